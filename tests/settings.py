"""Test settings: the real settings, plus what makes tests fast and deterministic.

The database is whatever DATABASE_URL names (PostgreSQL in CI), never swapped out here.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdefghijklmnop")

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# receivers of outbound events run on loopback in tests; tests of the refusal turn this off
OUTBOUND_ALLOW_PRIVATE_TARGETS = True
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405

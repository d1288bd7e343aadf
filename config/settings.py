"""Backorder Desk settings: one file, driven by the environment.

Every value that comes from the environment goes through a helper of ``config.env``, which raises
``ImproperlyConfigured`` at start-up when the value cannot be understood. A typo in a
deployment should stop the process, not surface as a surprise days later.
"""

import re
import sys
from datetime import timedelta
from email.utils import formataddr
from pathlib import Path
from urllib.parse import urlsplit

from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from config.env import (
    env_bool,
    env_choice,
    env_currency,
    env_database,
    env_int,
    env_list,
    env_locale,
    env_region,
    env_str,
    env_timezone,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DEBUG = env_bool("DEBUG", default=False)
# Commands that never sign anything may run without the key (build steps, migration checks); the
# placeholder starts with "django-insecure-", so `check --deploy` still refuses it.
MAINTENANCE_COMMANDS = {"makemigrations", "migrate", "showmigrations", "sqlmigrate", "check", "collectstatic"}
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    maintenance = Path(sys.argv[0]).name == "manage.py" and len(sys.argv) > 1 and sys.argv[1] in MAINTENANCE_COMMANDS
    if not (DEBUG or env_bool("BACKORDER_DESK_DEV", default=False) or maintenance):
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it (50+ random characters) for production, "
            "or set DEBUG=true / BACKORDER_DESK_DEV=true for local development."
        )
    SECRET_KEY = "django-insecure-dev-only-key-never-use-in-production-0123456789abcdef"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    *(f"django.contrib.{app}" for app in ("admin", "auth", "contenttypes", "sessions", "messages")),
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "anymail",
    "axes",
    "backorders",
    "suppliers",
    "packets",
    # after backorders, whose qcluster command (a stop bounded by Q_TIMEOUT) takes the place of django-q2's
    "django_q",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.RefuseUnreadableRequests",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # bodies bounded (and the login checked) before CSRF reads a form; chunked bodies read within limits
    "backorders.request_limits.RequestLimitsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "config.middleware.NoStoreForSignedInPages",
    "django_htmx.middleware.HtmxMiddleware",
    # last, as django-axes asks: turns a locked-out sign-in into its 429 answer
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "backorders.context_processors.roles",
            ],
        },
    }
]

DATABASES = {"default": env_database("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "config.login_throttle.ThrottledLogins",  # django-axes: refuses a locked-out username or address first
    "django.contrib.auth.backends.ModelBackend",
]
# Sign-in throttling (django-axes, config/login_throttle.py): this many failures for one username, or
# from one address, lock it out for the cool-off; the right password is refused until then.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10, minimum=1)
LOGIN_COOLOFF_MINUTES = env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1)
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each on its own: a username from anywhere, an address
AXES_RESET_ON_SUCCESS = True
# failures during a lockout are not written (the counted row stops growing) and do not extend it
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins are in the audit trail already
AXES_CLIENT_IP_CALLABLE = "config.login_throttle.client_ip"
AXES_HTTP_RESPONSE_CODE = 429
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/cases/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"  # stored and computed in UTC
STORE_TIME_ZONE = env_timezone("STORE_TIME_ZONE", "America/New_York")  # shown to people
STORE_CURRENCY = env_currency("STORE_CURRENCY", "USD")  # amounts that name no currency (product prices)
MONEY_LOCALE = env_locale("MONEY_LOCALE", "en_US")  # how amounts are written: symbol, separators
# The store's country: the region of a phone number typed without its country code ("(555) 555-5555").
STORE_COUNTRY = env_region("STORE_COUNTRY", "US")

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # htmx comes from the npm registry (package.json), never committed to the repo.
    ("vendor/htmx", BASE_DIR / "node_modules" / "htmx.org" / "dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if env_bool("STATIC_MANIFEST", default=not DEBUG)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# Exported packet bundles are written here; the web and worker processes must be able to write to it.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
# Packet PDFs are kept here by the hash of what they show (packets.audit.pdf_cache); empty: not kept.
PACKET_PDF_CACHE_DIR = env_str("PACKET_PDF_CACHE_DIR", str(MEDIA_ROOT / "packet-pdfs"))

# Mail: Django's SMTP backend (default), or a provider's HTTP API through django-anymail. Each
# provider reads its keys from the environment; a missing key stops the process at start-up.
# (setting, required): the provider's ANYMAIL settings, read from variables of the same name.
EMAIL_PROVIDERS: dict[str, tuple[str, dict[str, bool]]] = {
    "smtp": ("django.core.mail.backends.smtp.EmailBackend", {}),
    "sendgrid": ("django.core.mail.backends.smtp.EmailBackend", {"SENDGRID_API_KEY": True}),  # SMTP relay
    "postmark": (
        "anymail.backends.postmark.EmailBackend",
        {"POSTMARK_SERVER_TOKEN": True, "POSTMARK_MESSAGE_STREAM": False, "POSTMARK_API_URL": False},
    ),
    "mailgun": (
        "anymail.backends.mailgun.EmailBackend",
        {
            "MAILGUN_API_KEY": True,
            "MAILGUN_SENDER_DOMAIN": False,
            "MAILGUN_API_URL": False,
            "MAILGUN_WEBHOOK_SIGNING_KEY": False,
        },
    ),
    # boto3 reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION itself
    "amazon_ses": ("anymail.backends.amazon_ses.EmailBackend", {"AMAZON_SES_CONFIGURATION_SET_NAME": False}),
    "brevo": ("anymail.backends.brevo.EmailBackend", {"BREVO_API_KEY": True, "BREVO_API_URL": False}),
    "mailjet": (
        "anymail.backends.mailjet.EmailBackend",
        {"MAILJET_API_KEY": True, "MAILJET_SECRET_KEY": True, "MAILJET_API_URL": False},
    ),
    "sparkpost": ("anymail.backends.sparkpost.EmailBackend", {"SPARKPOST_API_KEY": True, "SPARKPOST_API_URL": False}),
    "mailersend": (
        "anymail.backends.mailersend.EmailBackend",
        {"MAILERSEND_API_TOKEN": True, "MAILERSEND_SIGNING_SECRET": False, "MAILERSEND_API_URL": False},
    ),
}
EMAIL_PROVIDER = env_str("EMAIL_PROVIDER", "smtp").strip().lower()
if EMAIL_PROVIDER not in EMAIL_PROVIDERS:
    raise ImproperlyConfigured(f"EMAIL_PROVIDER must be one of {', '.join(EMAIL_PROVIDERS)}, got {EMAIL_PROVIDER!r}")
_email_backend, _email_keys = EMAIL_PROVIDERS[EMAIL_PROVIDER]
for _name, _required in _email_keys.items():
    if _required and not env_str(_name):
        raise ImproperlyConfigured(f"EMAIL_PROVIDER={EMAIL_PROVIDER} needs {_name}")
EMAIL_BACKEND = env_str("EMAIL_BACKEND", _email_backend)
_relay = EMAIL_PROVIDER == "sendgrid"  # SendGrid through its SMTP relay: user "apikey", the key as password
EMAIL_HOST = env_str("EMAIL_HOST", "smtp.sendgrid.net" if _relay else "127.0.0.1")
EMAIL_PORT = env_int("EMAIL_PORT", 587 if _relay else 1025, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "apikey" if _relay else "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", env_str("SENDGRID_API_KEY") if _relay else "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=_relay)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 15, minimum=1)
# Customers hear from the store, never from the software: its name signs every message and names
# the sender of its mail, with the store's own address (`make run` sets a demo store's).
STORE_NAME = env_str("STORE_NAME", "Customer service").strip() or "Customer service"
STORE_FROM_EMAIL = env_str("STORE_FROM_EMAIL", "orders@localhost")
if "@" not in STORE_FROM_EMAIL or any(c in STORE_FROM_EMAIL for c in "<>\r\n "):
    raise ImproperlyConfigured(
        f"STORE_FROM_EMAIL must be a plain address such as orders@example.com, got {STORE_FROM_EMAIL!r}"
    )
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL") or formataddr((STORE_NAME, STORE_FROM_EMAIL))
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# The providers' delivery webhooks (/anymail/<provider>/tracking/) take HTTP basic auth
# "user:password" (comma-separated during a rotation); unset, they refuse every post.
ANYMAIL_WEBHOOK_SECRET = env_list("ANYMAIL_WEBHOOK_SECRET")
for _secret in ANYMAIL_WEBHOOK_SECRET:
    if ":" not in _secret:
        raise ImproperlyConfigured("ANYMAIL_WEBHOOK_SECRET must be user:password (comma-separated for several)")
ANYMAIL = {
    "WEBHOOK_SECRET": ANYMAIL_WEBHOOK_SECRET,
    "REQUESTS_TIMEOUT": (
        env_int("NOTIFY_CONNECT_TIMEOUT", 5, minimum=1),
        env_int("NOTIFY_READ_TIMEOUT", 15, minimum=1),
    ),
    **{name: env_str(name) for name in _email_keys if env_str(name) and name != "SENDGRID_API_KEY"},
}
# Replies come in whichever way mail goes out: a provider's inbound webhook takes the same basic
# auth, and Mailgun's also its signing key (set it even when mail goes out over SMTP).
if env_str("MAILGUN_WEBHOOK_SIGNING_KEY"):
    ANYMAIL["MAILGUN_WEBHOOK_SIGNING_KEY"] = env_str("MAILGUN_WEBHOOK_SIGNING_KEY")
# Every email we send names a signed reply address reply+<token>@REPLY_DOMAIN (a domain whose mail
# reaches the provider's inbound route or the IMAP mailbox); unset, replies go to the sender address
# and are matched by their In-Reply-To / References headers and the customer's address.
REPLY_DOMAIN = env_str("REPLY_DOMAIN").strip().lower()
if REPLY_DOMAIN and not re.fullmatch(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?\.[a-z]{2,}|localhost", REPLY_DOMAIN):
    raise ImproperlyConfigured(f"REPLY_DOMAIN must be a domain such as replies.example.com, got {REPLY_DOMAIN!r}")
# A plain mailbox for stores without an email provider: imaps://user:password@host[:port]/INBOX
# (imap:// only for a server on this machine); `manage.py fetch_replies` and a schedule read it.
IMAP_URL = env_str("IMAP_URL")
if IMAP_URL:
    _imap = urlsplit(IMAP_URL)
    if _imap.scheme not in {"imap", "imaps"} or not (_imap.hostname and _imap.username and _imap.password):
        raise ImproperlyConfigured("IMAP_URL must be imaps://user:password@host/INBOX (user and password quoted)")
    if _imap.scheme == "imap" and _imap.hostname not in {"127.0.0.1", "::1", "localhost"}:
        raise ImproperlyConfigured("IMAP_URL: plain imap:// is only for a server on this machine; use imaps://")

# Background work: django-q2. Redis is the broker when REDIS_URL is set, the ORM otherwise.
# retry (seconds before an unacknowledged task is delivered again) stays above timeout so one
# task never runs twice at once; attempts are finite so a poison task stops.
REDIS_URL = env_str("REDIS_URL")
Q_CLUSTER = {
    "name": "backorder-desk",
    "workers": env_int("Q_WORKERS", 2, minimum=1),
    "timeout": env_int("Q_TIMEOUT", 120, minimum=5),
    "retry": env_int("Q_RETRY", 180, minimum=10),
    "max_attempts": env_int("Q_MAX_ATTEMPTS", 5, minimum=1),
    # a cluster takes tasks ahead of its workers; the ORM broker hands a taken task out again after
    # `retry` seconds, so keep the read-ahead short enough to start well within that window
    "queue_limit": env_int("Q_WORKERS", 2, minimum=1) * 2,
    "bulk": env_int("Q_WORKERS", 2, minimum=1),
    # successful results are kept and pruned once a day (ops.prune_task_results, TASK_RESULTS_KEEP_DAYS),
    # not on every save: django-q2 prunes by reading and locking every kept result each time it saves
    # one (19 ms per task with 500 kept, against 2 ms), which held a cluster to about 50 tasks a second
    "save_limit": 0,
    "ack_failures": True,
    "catch_up": False,
    "poll": 0.5,
    "label": "Task queue",
}
TASK_RESULTS_KEEP_DAYS = env_int("TASK_RESULTS_KEEP_DAYS", 7, minimum=1)  # successful task results; failures stay
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
if Q_CLUSTER["retry"] <= Q_CLUSTER["timeout"]:
    raise ImproperlyConfigured("Q_RETRY must be larger than Q_TIMEOUT, or one task can run twice at once")

# Security defaults; production hardening switches on when DEBUG is off.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Content-Security-Policy (django-csp): the project's own files only. No inline script, style or
# event handler runs anywhere (pages, admin, customer page); htmx is told not to add its own
# inline style (templates/base.html), and its indicator rules live in static/css/app.css.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
    }
}
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", default=True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=True)
BEHIND_TLS_PROXY = env_bool("BEHIND_TLS_PROXY", default=False)
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOG_FORMAT = env_str("LOG_FORMAT", "plain")
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "config.logging.JsonFormatter"},
    },
    "filters": {
        "quiet_schedules": {"()": "config.logging.QuietSchedules"},
        # secrets that ride in a URL (Shippo's ?token=) are shown as [redacted] in every line
        "redact": {"()": "config.logging.RedactSecrets"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # an idle worker is quiet at INFO: the queue's lines about each scheduled run are DEBUG
        "django-q": {"filters": ["quiet_schedules"]},
        # the development server's request lines carry query strings: through the same filter
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}

# Notifications: customer messages (email, SMS), staff alerts (Slack), the signed customer page.
# Provider endpoints and keys come from the environment; tests point them at loopback servers.
# Unset, customer links point at this machine on the port the server listens on (`make run PORT=9100`).
PORT = env_int("PORT", 8000, minimum=1, maximum=65535)
SITE_URL = env_str("SITE_URL", f"http://127.0.0.1:{PORT}").rstrip("/")
if not SITE_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(f"SITE_URL must start with http:// or https://, got {SITE_URL!r}")
CUSTOMER_LINK_MAX_AGE_DAYS = env_int("CUSTOMER_LINK_MAX_AGE_DAYS", 60, minimum=1)
TWILIO_API_BASE = env_str("TWILIO_API_BASE", "https://api.twilio.com").rstrip("/")
TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID")
TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN")
TWILIO_FROM = env_str("TWILIO_FROM")
SLACK_WEBHOOK_URL = env_str("SLACK_WEBHOOK_URL")
NOTIFY_CONNECT_TIMEOUT = env_int("NOTIFY_CONNECT_TIMEOUT", 5, minimum=1)  # seconds, HTTP providers
NOTIFY_READ_TIMEOUT = env_int("NOTIFY_READ_TIMEOUT", 15, minimum=1)
# Per message, then failed. With the backoff below, ten attempts span about four hours (60 s doubling
# to the one-hour cap): a provider down for an hour or two loses nothing.
NOTIFY_MAX_ATTEMPTS = env_int("NOTIFY_MAX_ATTEMPTS", 10, minimum=1)
NOTIFY_RETRY_BASE_SECONDS = env_int("NOTIFY_RETRY_BASE_SECONDS", 60, minimum=1)  # doubles per attempt
NOTIFY_RETRY_MAX_SECONDS = env_int("NOTIFY_RETRY_MAX_SECONDS", 3600, minimum=1)

# Intake: webhook secrets, CSV uploads, and the follow-up run after intake changed facts.
# A source without its secret rejects every delivery (401, kept as rejected) until it is set.
SHOPIFY_WEBHOOK_SECRETS = env_list("SHOPIFY_WEBHOOK_SECRETS")  # comma-separated: old and new during a rotation
WOOCOMMERCE_WEBHOOK_SECRET = env_str("WOOCOMMERCE_WEBHOOK_SECRET")
AFTERSHIP_WEBHOOK_SECRET = env_str("AFTERSHIP_WEBHOOK_SECRET")
EASYPOST_WEBHOOK_SECRET = env_str("EASYPOST_WEBHOOK_SECRET")
SHIPPO_WEBHOOK_HMAC_SECRET = env_str("SHIPPO_WEBHOOK_HMAC_SECRET")  # Shippo's key for Shippo-Auth-Signature
SHIPPO_WEBHOOK_SECRET = env_str("SHIPPO_WEBHOOK_SECRET")  # fallback: the ?token= on the URL registered with Shippo
INTAKE_FOLLOWUP_TASK = env_str("INTAKE_FOLLOWUP_TASK", "packets.tasks.run_sweep")  # empty: no follow-up
SWEEP_BATCH_KEYS = env_int("SWEEP_BATCH_KEYS", 2000, minimum=1)  # dirty keys one sweep transaction claims
# A full reconcile of SWEEP_PARALLEL_FROM cases or more runs in SWEEP_PROCESSES processes (0: cores, at most 4)
SWEEP_PROCESSES = env_int("SWEEP_PROCESSES", 0, minimum=0, maximum=32)
SWEEP_PARALLEL_FROM = env_int("SWEEP_PARALLEL_FROM", 5000, minimum=1)
# Largest webhook body taken (bytes); larger ones get 413 and are kept as rejected without the body.
# At most Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MiB), above which reading a body fails anyway.
WEBHOOK_MAX_BYTES = env_int("WEBHOOK_MAX_BYTES", 1024 * 1024, minimum=1024, maximum=2_621_440)
# Deliveries done with (processed, ignored, duplicate, rejected, dismissed) are deleted after this many
# days by the intake.prune_deliveries schedule; failed ones stay until replayed or dismissed.
WEBHOOK_RETENTION_DAYS = env_int("WEBHOOK_RETENTION_DAYS", 30, minimum=1)
INTAKE_IMPORT_MAX_BYTES = env_int("INTAKE_IMPORT_MAX_MB", 25, minimum=1, maximum=500) * 1024 * 1024
# Uploads stay in memory and stop at INTAKE_IMPORT_MAX_BYTES (backorders.request_limits): nothing is
# spooled to a temporary file, so a web worker killed mid-upload leaves nothing behind.
FILE_UPLOAD_HANDLERS = ["backorders.request_limits.BoundedUploadHandler"]
FILE_UPLOAD_MAX_MEMORY_SIZE = INTAKE_IMPORT_MAX_BYTES
DATA_UPLOAD_MAX_NUMBER_FILES = 5
# A worker running an import renews its lease every quarter of this (seconds); a job whose lease ran
# out is resumed from its last committed batch by the imports.resume schedule, at most this many times.
IMPORT_LEASE_SECONDS = env_int("IMPORT_LEASE_SECONDS", 60, minimum=2, maximum=3600)
IMPORT_MAX_RESUMES = env_int("IMPORT_MAX_RESUMES", 5, minimum=0, maximum=100)
# A delivery that came before a fact it needs (a fulfilment before its order) waits: it is tried
# again when the fact arrives, or after INTAKE_WAIT_RETRY_SECONDS doubling to an hour, and fails
# with its reason once it has waited INTAKE_WAIT_MAX_HOURS.
INTAKE_WAIT_RETRY_SECONDS = env_int("INTAKE_WAIT_RETRY_SECONDS", 60, minimum=1)
INTAKE_WAIT_MAX_HOURS = env_int("INTAKE_WAIT_MAX_HOURS", 72, minimum=1)
# The worker applies received deliveries in batches of INTAKE_BATCH_SIZE, one transaction each
# (claimed with SKIP LOCKED, so clusters share them), for up to INTAKE_BATCH_SECONDS a task (at
# most a third of the queue's task timeout).
INTAKE_BATCH_SIZE = env_int("INTAKE_BATCH_SIZE", 50, minimum=1, maximum=5000)
INTAKE_BATCH_SECONDS = env_int("INTAKE_BATCH_SECONDS", 15, minimum=1, maximum=3600)
# Called as fn(product, lines) inside the transaction that gave waiting lines their units
# (backorders.hooks): the stock.allocated event, and releasing our own store holds.
AFTER_ALLOCATION = ["packets.stock_events.after_allocation"]

# Where the channels' stock comes from. "channel" (the default): Shopify and WooCommerce report
# stock and the desk counts from it. "desk": the desk's available-to-promise is pushed to the
# channels after receipts and allocations (packets.store_actions.stock_push); what they report
# is kept beside it and compared. Shopify sums a variant's levels over the selling locations
# (empty: every location seen); the push sets the stock location to available-to-promise and the
# other selling locations to zero (empty: the first selling location seen).
STOCK_SOURCE = env_choice("STOCK_SOURCE", "channel", ("channel", "desk"))
SHOPIFY_SELLING_LOCATIONS = env_list("SHOPIFY_SELLING_LOCATIONS")  # Shopify location ids, comma-separated
SHOPIFY_STOCK_LOCATION = env_str("SHOPIFY_STOCK_LOCATION")  # the location the pushed units are set at
# Called as fn(product_ids) after a transaction that locked products for a stock change commits
# (backorders.hooks), when STOCK_SOURCE is "desk".
AFTER_STOCK_CHANGE = ["packets.store_actions.stock_push.after_stock_change"]

# Acting on the store: the admin APIs an approved cancel, refund, hold or tag is sent to.
# Nothing runs until a decision is approved; a platform without its settings fails the action
# with a message that says which setting is missing.
SHOPIFY_SHOP_URL = env_str("SHOPIFY_SHOP_URL").rstrip("/")  # https://your-shop.myshopify.com
SHOPIFY_ADMIN_TOKEN = env_str("SHOPIFY_ADMIN_TOKEN")
SHOPIFY_API_VERSION = env_str("SHOPIFY_API_VERSION", "2026-10")
SHOPIFY_JOB_POLL_SECONDS = env_int("SHOPIFY_JOB_POLL_SECONDS", 1, minimum=0)  # between orderCancel job polls
SHOPIFY_JOB_POLL_MAX = env_int("SHOPIFY_JOB_POLL_MAX", 10, minimum=1)  # then the row waits as needs_check
WOOCOMMERCE_URL = env_str("WOOCOMMERCE_URL").rstrip("/")
WOOCOMMERCE_CONSUMER_KEY = env_str("WOOCOMMERCE_CONSUMER_KEY")
WOOCOMMERCE_CONSUMER_SECRET = env_str("WOOCOMMERCE_CONSUMER_SECRET")
# The keys go as HTTP basic auth, so an http:// store URL is refused unless this allows it (a local stand-in).
WOOCOMMERCE_ALLOW_HTTP = env_bool("WOOCOMMERCE_ALLOW_HTTP", default=False)
# ShipStation, BigCommerce, Magento (intake.platform_api): these hosts only; https unless PLATFORM_API_ALLOW_HTTP.
SHIPSTATION_API_URL = env_url("SHIPSTATION_API_URL", "https://ssapi.shipstation.com")
SHIPSTATION_API_KEY = env_str("SHIPSTATION_API_KEY")
SHIPSTATION_API_SECRET = env_str("SHIPSTATION_API_SECRET")
SHIPSTATION_WEBHOOK_SECRET = env_str("SHIPSTATION_WEBHOOK_SECRET")  # the ?token= on the URL registered with ShipStation
SHIPSTATION_BACKORDER_TAG_ID = env_str("SHIPSTATION_BACKORDER_TAG_ID")  # the tagId of the store's "Backorder" tag
BIGCOMMERCE_API_URL = env_url("BIGCOMMERCE_API_URL", "https://api.bigcommerce.com")
BIGCOMMERCE_STORE_HASH = env_str("BIGCOMMERCE_STORE_HASH")
BIGCOMMERCE_ACCESS_TOKEN = env_str("BIGCOMMERCE_ACCESS_TOKEN")
BIGCOMMERCE_WEBHOOK_SECRET = env_str("BIGCOMMERCE_WEBHOOK_SECRET")  # the X-Webhook-Secret set at registration
MAGENTO_URL = env_url("MAGENTO_URL")  # https://shop.example.com (REST under /rest/V1)
MAGENTO_ACCESS_TOKEN = env_str("MAGENTO_ACCESS_TOKEN")  # the integration's access token
MAGENTO_PAGE_SIZE = env_int("MAGENTO_PAGE_SIZE", 100, minimum=1, maximum=500)
PLATFORM_API_ALLOW_HTTP = env_bool("PLATFORM_API_ALLOW_HTTP", default=False)
STORE_API_CONNECT_TIMEOUT = env_int("STORE_API_CONNECT_TIMEOUT", 5, minimum=1)  # seconds
STORE_API_READ_TIMEOUT = env_int("STORE_API_READ_TIMEOUT", 30, minimum=1)
STORE_ACTION_MAX_ATTEMPTS = env_int("STORE_ACTION_MAX_ATTEMPTS", 8, minimum=1)
STORE_ACTION_RETRY_BASE_SECONDS = env_int("STORE_ACTION_RETRY_BASE_SECONDS", 30, minimum=1)  # doubles per attempt

# Zendesk: an escalated case opens one ticket (POST /api/v2/tickets; Zendesk keeps its Idempotency-Key
# two hours, and retries, doubling from the base to at most 15 minutes apart, end well inside that).
ZENDESK_URL = env_str("ZENDESK_URL").rstrip("/")  # https://<subdomain>.zendesk.com
ZENDESK_OAUTH_TOKEN = env_str("ZENDESK_OAUTH_TOKEN")  # an OAuth access token (API tokens end 2027-04-30)
ZENDESK_MAX_ATTEMPTS = env_int("ZENDESK_MAX_ATTEMPTS", 8, minimum=1, maximum=12)
ZENDESK_RETRY_BASE_SECONDS = env_int("ZENDESK_RETRY_BASE_SECONDS", 30, minimum=1, maximum=600)
# Ticket comments come back to POST /webhooks/zendesk/ signed with the webhook's signing secret; empty refuses all.
ZENDESK_WEBHOOK_SECRET = env_str("ZENDESK_WEBHOOK_SECRET")
# A signed post whose timestamp is further than this from now is refused (a replay).
ZENDESK_WEBHOOK_TOLERANCE_SECONDS = env_int("ZENDESK_WEBHOOK_TOLERANCE_SECONDS", 300, minimum=30, maximum=3600)

# Slack both ways: the owner's alerts (bot token, chat:write); presses in at /integrations/slack/interactions/.
SLACK_BOT_TOKEN = env_str("SLACK_BOT_TOKEN")  # xoxb-...
SLACK_SIGNING_SECRET = env_str("SLACK_SIGNING_SECRET")
SLACK_OWNER_CHANNEL = env_str("SLACK_OWNER_CHANNEL")  # a channel id (C...) or the owner's member id (U...)
SLACK_API_URL = env_url("SLACK_API_URL", "https://slack.com/api")
SLACK_MAX_ATTEMPTS = env_int("SLACK_MAX_ATTEMPTS", 8, minimum=1, maximum=20)
SLACK_RETRY_BASE_SECONDS = env_int("SLACK_RETRY_BASE_SECONDS", 30, minimum=1, maximum=600)
SLACK_REPLY_DUE_WITHIN_HOURS = env_int("SLACK_REPLY_DUE_WITHIN_HOURS", 4, minimum=1, maximum=72)

# Optional machine drafting: the case page offers "Draft a reply" when all three are set (any
# OpenAI-compatible chat-completions server). Off by default; the templates stay the default.
LLM_BASE_URL = env_str("LLM_BASE_URL").rstrip("/")  # e.g. https://api.openai.com/v1, http://127.0.0.1:11434/v1
LLM_API_KEY = env_str("LLM_API_KEY")
LLM_MODEL = env_str("LLM_MODEL")
# The page waits for the draft, so this stays under the web worker's 30 s timeout (config/gunicorn.conf.py).
LLM_TIMEOUT_SECONDS = env_int("LLM_TIMEOUT_SECONDS", 20, minimum=1, maximum=25)
if LLM_BASE_URL and not LLM_BASE_URL.startswith(("https://", "http://")):
    raise ImproperlyConfigured("LLM_BASE_URL must be an http(s) URL, e.g. https://api.openai.com/v1")

# Outbound events (signed per Standard Webhooks) and the generic inbound endpoint.
OUTBOUND_CONNECT_TIMEOUT = env_int("OUTBOUND_CONNECT_TIMEOUT", 5, minimum=1)
OUTBOUND_READ_TIMEOUT = env_int("OUTBOUND_READ_TIMEOUT", 15, minimum=1)
OUTBOUND_MAX_ATTEMPTS = env_int("OUTBOUND_MAX_ATTEMPTS", 8, minimum=1)
# Deliveries one change hands to the queue at once; a larger burst goes out a batch a minute.
OUTBOUND_ENQUEUE_AT_ONCE = env_int("OUTBOUND_ENQUEUE_AT_ONCE", 500, minimum=1)
# Subscriptions may point only at public addresses (checked when saved and before each send, resolving
# DNS); true allows loopback, private and link-local targets (a receiver on the same private network).
OUTBOUND_ALLOW_PRIVATE_TARGETS = env_bool("OUTBOUND_ALLOW_PRIVATE_TARGETS", default=False)
GENERIC_WEBHOOK_SECRET = env_str("GENERIC_WEBHOOK_SECRET")  # whsec_...; empty rejects every delivery
if GENERIC_WEBHOOK_SECRET and not GENERIC_WEBHOOK_SECRET.startswith("whsec_"):
    raise ImproperlyConfigured("GENERIC_WEBHOOK_SECRET must be a Standard Webhooks secret starting with whsec_")

"""Configuration comes from the environment and a bad value stops the process at start-up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config import settings as project_settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("helper", "name", "raw"),
    [
        (project_settings.env_bool, "X_BOOL", "maybe"),
        (lambda name: project_settings.env_int(name, 1), "X_INT", "twelve"),
        (lambda name: project_settings.env_int(name, 1, minimum=1, maximum=65535), "X_INT", "70000"),
        (lambda name: project_settings.env_timezone(name, "UTC"), "X_TZ", "Mars/Olympus"),
        (lambda name: project_settings.env_database(name, "sqlite:///x"), "X_DB", "mysql://u@h/db"),
        (lambda name: project_settings.env_database(name, "sqlite:///x"), "X_DB", "nonsense://"),
        (lambda name: project_settings.env_currency(name, "USD"), "X_CURRENCY", "DOLLARS"),
        (lambda name: project_settings.env_currency(name, "USD"), "X_CURRENCY", "XYZ"),
        (lambda name: project_settings.env_locale(name, "en_US"), "X_LOCALE", "klingon_XX"),
        (lambda name: project_settings.env_region(name, "US"), "X_REGION", "USA"),
        (lambda name: project_settings.env_choice(name, "channel", ("channel", "desk")), "X_SOURCE", "shopify"),
    ],
)
def test_it_raises_improperly_configured_on_values_it_cannot_read(monkeypatch, helper, name, raw):
    monkeypatch.setenv(name, raw)
    with pytest.raises(ImproperlyConfigured, match=name):
        helper(name)


def test_it_reads_good_values(monkeypatch):
    monkeypatch.setenv("X_BOOL", "Yes")
    monkeypatch.setenv("X_LIST", "a.example, b.example,,")
    monkeypatch.setenv("X_DB", "postgres://postgres@127.0.0.1:5432/shop")
    assert project_settings.env_bool("X_BOOL") is True
    assert project_settings.env_list("X_LIST") == ["a.example", "b.example"]
    db = project_settings.env_database("X_DB", "sqlite:///x")
    assert db["ENGINE"] == "django.db.backends.postgresql" and db["NAME"] == "shop"
    monkeypatch.setenv("X_CURRENCY", "jpy")
    monkeypatch.setenv("X_REGION", "gb")
    assert project_settings.env_currency("X_CURRENCY", "USD") == "JPY"
    assert project_settings.env_region("X_REGION", "US") == "GB"
    assert project_settings.env_locale("X_UNSET", "de-DE") == "de_DE"
    monkeypatch.setenv("X_SOURCE", " Desk ")
    assert project_settings.env_choice("X_SOURCE", "channel", ("channel", "desk")) == "desk"
    assert project_settings.env_choice("X_UNSET", "channel", ("channel", "desk")) == "channel"
    sqlite = project_settings.env_database("X_UNSET", "sqlite:////tmp/x.sqlite3")
    assert sqlite["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def _start(env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE"}}
    return subprocess.run(
        [sys.executable, "-c", "import config.settings"],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_refuses_to_start_in_production_without_a_secret_key():
    result = _start({"DEBUG": "false"})
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_it_refuses_to_start_with_a_bad_port_or_a_retry_not_above_the_timeout():
    assert "EMAIL_PORT must be a whole number" in _start({"DEBUG": "true", "EMAIL_PORT": "smtp"}).stderr
    assert "Q_RETRY must be larger" in _start({"DEBUG": "true", "Q_TIMEOUT": "300", "Q_RETRY": "200"}).stderr


def test_it_uses_redis_as_the_broker_only_when_redis_url_is_set():
    code = "from django.conf import settings as s; print(sorted(k for k in s.Q_CLUSTER if k in ('orm', 'redis')))"
    env_base = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    run = lambda extra: subprocess.run(  # noqa: E731
        [sys.executable, "-c", f"import os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; {code}"],
        cwd=ROOT,
        env={**env_base, "DEBUG": "true", **extra},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run({}).stdout.strip() == "['orm']"
    assert run({"REDIS_URL": "redis://127.0.0.1:6379/0"}).stdout.strip() == "['redis']"


def test_it_lets_maintenance_commands_run_without_the_key_but_never_passes_the_deploy_check():
    base = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE"}}
    env = {**base, "DEBUG": "false", "ALLOWED_HOSTS": "desk.example.com"}
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert run("makemigrations", "--check", "--dry-run").returncode == 0
    deploy = run("check", "--deploy", "--fail-level", "WARNING")
    assert deploy.returncode != 0 and "security.W009" in deploy.stderr
    served = subprocess.run(  # what gunicorn loads
        [sys.executable, "-c", "import config.wsgi"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert served.returncode != 0 and "SECRET_KEY is not set" in served.stderr

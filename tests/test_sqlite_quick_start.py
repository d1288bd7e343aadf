"""The zero-setup run on SQLite: every page of the owner's menu opens, and a signed webhook is applied.

The suite runs on PostgreSQL; `make run` runs on SQLite. This test runs the demo store on SQLite in a
second process (its own settings, as `make run` gives them), so a query or lock that only PostgreSQL
understands (``DISTINCT ON``, advisory locks) shows here rather than on a new store owner's first try.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT.parent / "shared" / "samples" / "webhooks" / "shopify-orders-create.json"

SCRIPT = r"""
import base64, hashlib, hmac, json, re, sys
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from backorders.models import Product, WebhookDelivery
from backorders.tasks import process_pending
from packets.models import Case

call_command("seed_demo", verbosity=0)
call_command("sweep", verbosity=0)
client = Client(HTTP_HOST="127.0.0.1")
client.force_login(get_user_model().objects.get(username="owner"))
home = client.get("/", follow=True)
assert home.status_code == 200, home.status_code
nav = re.search(r"<nav[^>]*>(.*?)</nav>", home.content.decode(), re.S).group(1)
paths = sorted({p for p in re.findall(r'href="(/[^"#?]*)"', nav) if not p.startswith("/admin")})
case, product = Case.objects.order_by("pk").first(), Product.objects.order_by("pk").first()
paths += [f"/cases/{case.pk}/", f"/products/{product.pk}/"]
for path in paths:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.content[:2000])
print("PAGES", len(paths))

order = json.loads(open(sys.argv[2], "rb").read())
order = order.get("response", order)
body = json.dumps(order).encode()
digest = base64.b64encode(hmac.new(b"quick-start-secret", body, hashlib.sha256).digest()).decode()
webhook = Client(HTTP_HOST="127.0.0.1").post(
    "/webhooks/shopify/", body, content_type="application/json",
    HTTP_X_SHOPIFY_TOPIC="orders/create", HTTP_X_SHOPIFY_HMAC_SHA256=digest,
    HTTP_X_SHOPIFY_WEBHOOK_ID="quick-start-1", HTTP_X_SHOPIFY_SHOP_DOMAIN="maple-moss.myshopify.com",
)
assert webhook.status_code == 200, (webhook.status_code, webhook.content[:500])
process_pending()
delivery = WebhookDelivery.objects.get(pk=webhook.json()["delivery"])
assert delivery.status == "processed", (delivery.status, delivery.error)
print("WEBHOOK", delivery.status)
"""


def test_the_demo_store_on_sqlite_opens_every_menu_page_and_applies_a_webhook(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "STORE_", "EMAIL_"))}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path}/demo.sqlite3",
        MEDIA_ROOT=str(tmp_path / "media"),
        DEBUG="true",
        SHOPIFY_WEBHOOK_SECRETS="quick-start-secret",
    )
    env.pop("REDIS_URL", None)
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    run = subprocess.run(
        [sys.executable, "-c", "import django, sys; django.setup(); exec(sys.argv[1])", SCRIPT, str(SAMPLE)],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-6000:]
    assert "WEBHOOK processed" in run.stdout
    pages = int(run.stdout.split("PAGES ", 1)[1].split()[0])
    assert pages >= 10  # the menu and a case and a product page were all opened

"""The README's platform table is real: every worked example is accepted by the desk.

The generic payloads are read from README.md's ``json generic`` blocks and posted, signed per
Standard Webhooks, to the generic webhook: each is answered 200 and applied. The outbound events
(``json event`` blocks) match their JSON Schemas in ``docs/events/``; the CSV example imports
without a problem. Every row of the table names a way to connect.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings
from standardwebhooks import Webhook

from backorders.models import ImportJob, Product, WebhookDelivery
from backorders.tasks import process_delivery, process_import
from tests import factories
from tests.backorders.signed import GENERIC_SECRET, configure
from tests.packets.test_outbound import SCHEMAS, conforms

README = (Path(settings.BASE_DIR) / "README.md").read_text()
SECTION = README.split("## Where stores already work", 1)[1].split("\n## ", 1)[0]
GENERIC = [json.loads(block) for block in re.findall(r"```json generic\n(.*?)\n```", SECTION, re.S)]
EVENTS = [json.loads(block) for block in re.findall(r"```json event\n(.*?)\n```", SECTION, re.S)]
CSV = re.findall(r"```csv (\w+)\n(.*?)```", SECTION, re.S)


def test_every_row_of_the_table_names_a_way_to_connect():
    rows = [line for line in SECTION.splitlines() if line.startswith("| ") and not line.startswith("| tool")]
    assert len(rows) >= 22
    ways = ("native", "generic webhook", "outbound events", "CSV")
    assert [row for row in rows if not any(way in row.split("|")[2] for way in ways)] == []
    for name in ("Google Sheets", "Airtable", "Trello", "NetSuite", "ShipStation", "BigCommerce", "Magento"):
        assert f"| {name}" in SECTION
    assert len(GENERIC) >= 10 and len(EVENTS) >= 2 and CSV


@pytest.mark.django_db
@pytest.mark.postgres
@pytest.mark.parametrize("number", range(len(GENERIC)))
def test_each_documented_generic_payload_is_accepted_and_applied(client, settings, number):
    configure(settings)
    factories.SupplierFactory(code="acme", name="Acme")
    for sku in ("LAMP-OAK", "MUG-BLUE", "TEA-EARL"):
        factories.ProductFactory(sku=sku, on_hand=0)
    for payload in GENERIC[: number + 1]:  # the earlier examples first: a shipment names an earlier order
        body = json.dumps(payload)
        at = datetime.now(UTC)
        msg_id = f"msg_readme_{GENERIC.index(payload)}"
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(GENERIC_SECRET).sign(msg_id=msg_id, timestamp=at, data=body),
        }
        response = client.post("/webhooks/generic/", body, content_type="application/json", headers=headers)
        assert response.status_code == 200, response.content
        delivery = WebhookDelivery.objects.get(pk=response.json()["delivery"])
        process_delivery(delivery.pk)
        delivery.refresh_from_db()
        assert delivery.status == WebhookDelivery.Status.PROCESSED, (payload["type"], delivery.error)


@pytest.mark.parametrize("number", range(len(EVENTS)))
def test_each_documented_event_matches_its_schema(number):
    event = EVENTS[number]
    schema = json.loads((SCHEMAS / f"{event['type']}.json").read_text())
    assert conforms(event, schema) == []


@pytest.mark.django_db
@pytest.mark.postgres
def test_the_documented_csv_imports_without_a_problem():
    for sku in ("LAMP-OAK", "MUG-BLUE"):
        factories.ProductFactory(sku=sku, on_hand=5)
    [(kind, content)] = CSV
    job = ImportJob.objects.create(kind=kind, filename="stock.csv", content=content.encode())
    process_import(job.pk)
    job.refresh_from_db()
    assert (job.status, job.errors) == (ImportJob.Status.DONE, [])
    assert dict(Product.objects.values_list("sku", "on_hand")) == {"LAMP-OAK": 14, "MUG-BLUE": 0}

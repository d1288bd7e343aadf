"""Parcel and supplier cases: stale tracking per shipment, and silence per supplier.

A mixin of ``cases.CaseBuilder``: it reads the same snapshot and shared facts.
"""

from __future__ import annotations

from packets.packet import supplier_section, tracking_section
from packets.rules import facts as f
from packets.rules.customer import CustomerRisk, assess_customer
from packets.rules.evidence import tracking_evidence
from packets.rules.facts import ShipmentFacts
from packets.rules.options import OptionInputs, build_options
from packets.rules.risk import RiskContext
from packets.rules.sentiment import NOT_RECEIVED
from packets.rules.supply import silent_days
from packets.rules.tracking import classify_tracking
from packets.sweep.desired import CATEGORY_LABELS, Desired


class ParcelCases:
    def shipment_facts(self, row: dict) -> ShipmentFacts:
        delivered = row["delivered_at"]
        claims = [
            m["received_at"]
            for m in self.snap.inbound_by_order.get(row["order_id"], [])
            if NOT_RECEIVED in (m["intents"] or []) and (delivered is None or m["received_at"] >= delivered)
        ]
        return ShipmentFacts(
            id=row["id"],
            status=row["status"],
            label_created_at=row["label_created_at"],
            carrier=row["carrier"],
            tracking_number=row["tracking_number"],
            raw_status=row["raw_status"],
            shipped_by=row["shipped_by"],
            supplier_name=row["supplier_name"],
            first_scan_at=row["first_scan_at"],
            last_scan_at=row["last_scan_at"],
            delivered_at=delivered,
            destination_postal_code=row["destination_postal_code"],
            destination_country=row["destination_country"],
            order_postal_code=row["order__shipping_postal_code"],
            order_city=row["order__shipping_city"],
            international=row["international"],
            events=tuple(self.snap.events.get(row["id"], [])),
            not_received_claimed_at=claims[-1] if claims and row["status"] == "delivered" else None,
        )

    def tracking(self, row: dict) -> Desired | None:
        s = self.snap
        shipment = self.shipment_facts(row)
        verdict = classify_tracking(shipment, now=s.now, calendar=s.calendar, policy=self.rules)
        if verdict.category is None:
            return None
        order = s.orders[row["order_id"]]
        facts = self.order_facts(row["order_id"])
        customer = assess_customer(facts, self.rules)
        strength, uncertainty = tracking_evidence(verdict)
        label = CATEGORY_LABELS[verdict.category]
        supplier_id = s.supplier_ids_by_name.get(shipment.supplier_name.casefold()) if shipment.supplier_name else None
        d = Desired(
            key=f"tracking:shipment:{shipment.id}",
            kind=f.STALE_TRACKING,
            category=verdict.category,
            title=f"{shipment.carrier or 'Parcel'} {shipment.tracking_number} for {order['number']}: {label.lower()}",
            risk_level="",
            recommended_action="",
            recommendation_reason="",
            evidence_strength=strength,
            content={},
            order_id=row["order_id"],
            shipment_id=shipment.id,
            supplier_id=supplier_id,
            customer_silent_since=facts.customer_silent_since,
        )
        ctx = RiskContext(
            kind=f.STALE_TRACKING,
            category=verdict.category,
            now=s.now,
            customer=customer,
            order=facts,
            evidence_strength=strength,
            tracking_raw=shipment.raw_status,
        )
        options = build_options(
            OptionInputs(
                kind=f.STALE_TRACKING,
                order_total=order["total"],
                dropship=shipment.shipped_by == "supplier",
                customer_needs_owner=facts.is_vip(self.rules) or facts.is_high_value(self.rules),
            ),
            self.rules,
        )
        supplier = None
        if supplier_id:
            fact = s.suppliers[supplier_id]
            supplier = supplier_section(
                fact,
                updates=s.updates_by_supplier.get(supplier_id, []),
                verdict=None,
                eta=None,
                silence_days=silent_days(fact, now=s.now, calendar=s.calendar),
                dispatch_history=s.dispatch_history.get(supplier_id, []),
            )
        sections = {
            "summary": f"{shipment.carrier or 'The parcel'} {shipment.tracking_number} for order {order['number']}: "
            f"{label.lower()}. {' '.join(verdict.reasons)}",
            "order": self._order(row["order_id"]),
            "supplier": supplier,
            "tracking": tracking_section(shipment, verdict),
            "options": options,
        }
        return self.finish(d, ctx, customer, sections, uncertainty)

    def silence(self, supplier_id: int, product_ids: list[int]) -> Desired:
        s = self.snap
        supplier = s.suppliers[supplier_id]
        lines = [line for pid in product_ids for line in s.waiting_by_product[pid]]
        orders = sorted({line["order_id"] for line in lines})
        units = sum(line["quantity"] - line["allocated"] for line in lines)
        since = supplier.last_update_at
        said = f"since {s.calendar.local_date(since):%b %-d}" if since else "ever"
        skus = sorted(s.products[pid]["sku"] for pid in product_ids)
        d = Desired(
            key=f"silence:supplier:{supplier_id}",
            kind=f.STOCKOUT,
            category=f.SUPPLIER_SILENCE,
            title=f"{supplier.name} silent while {len(orders)} orders wait",
            risk_level="",
            recommended_action="",
            recommendation_reason="",
            evidence_strength=f.NONE,
            content={},
            supplier_id=supplier_id,
            promise_at_risk=any(self.promise(oid)[0] for oid in orders),
        )
        customer = CustomerRisk(urgency="low", repeat_contact=0, intents=[], sentiment=None)
        ctx = RiskContext(
            kind=f.SUPPLIER, category=f.SUPPLIER_SILENCE, now=s.now, customer=customer, waiting_units=units
        )
        backups = tuple(b for pid in product_ids for b in self.supply(pid).backups)
        primary = self.supply(product_ids[0]).primary
        options = build_options(
            OptionInputs(kind=f.SUPPLIER, units=units, primary=primary, backups=backups), self.rules
        )
        window = supplier.silence_business_days or self.rules.supplier_silence_business_days
        sections = {
            "summary": (
                f"{supplier.name} has not answered {said} while {len(orders)} orders wait on {', '.join(skus)}."
            ),
            "supplier": supplier_section(
                supplier,
                updates=s.updates_by_supplier.get(supplier_id, []),
                verdict=None,
                eta=None,
                silence_days=silent_days(supplier, now=s.now, calendar=s.calendar),
                dispatch_history=s.dispatch_history.get(supplier_id, []),
            ),
            "options": options,
        }
        uncertainty = [
            f"Nothing from {supplier.name} {said} (window: {window} business days): their stock and dates are unknown."
        ]
        return self.finish(d, ctx, customer, sections, uncertainty)

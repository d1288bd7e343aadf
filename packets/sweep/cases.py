"""From a snapshot of facts to the cases that should be open, each with its packet content.

Pure Python over the loaded snapshot: no query runs here.

How order cases and product cases share the queue:
- a **backorder** case per waiting order carries the customer-facing work (updates, consent to
  a replacement, cancellation or refund of that order). Its risk comes from that customer and
  that promise; its supply facts are quoted, but supply moves are not recommended on it.
- a **stockout** case per product carries the supply decisions (pause sales, fix the product
  page's wording, chase or switch supplier) once, however many orders wait: fifty orders on one
  SKU make one supply decision, not fifty.
- a **supplier** silence case (stored with kind stockout, keyed by supplier) carries the chase.
So a quiet order case sits at normal watch below the product case that decides its fate, and
rises only when its own customer or promise needs attention.
"""

from __future__ import annotations

from collections.abc import Container

from backorders.formats.text import product_name, sentence
from packets.packet import assemble, order_section, policy_section, product_section, supplier_section
from packets.rules import facts as f
from packets.rules.customer import CustomerRisk, assess_customer
from packets.rules.evidence import supply_evidence
from packets.rules.facts import InboundFacts, OrderFacts, ProductSupply
from packets.rules.options import OptionInputs, Replacement, build_options
from packets.rules.risk import RiskContext, assess_risk, long_eta_days_out, recommend
from packets.rules.supply import SEVERITY, classify_supply, is_silent, silent_days, stock_level
from packets.sweep.desired import CATEGORY_LABELS, RISK_LABELS, Desired
from packets.sweep.load import Snapshot
from packets.sweep.parcels import ParcelCases
from suppliers.eta import EtaRange, customer_ranges


class CaseBuilder(ParcelCases):
    def __init__(self, snap: Snapshot):
        self.snap = snap
        self.rules = snap.rules
        self.rule_text = snap.policy.rule_text()
        self._supply: dict[int, ProductSupply] = {}
        self._verdicts: dict = {}
        self._waiting: dict[int, dict[str, int]] = {}
        self._etas: dict[int, EtaRange | None] | None = None
        # Sections every packet of a kind, or of a product, shares: built once, one object for all
        # of them (so a run encodes each once too: ``packets.packet.PacketText``). Never mutated.
        self._policy: dict[str, dict] = {}
        self._supplier_blocks: dict[int, dict | None] = {}
        self._product_blocks: dict[int, dict] = {}

    # ----------------------------------------------------------------- shared facts

    def supply(self, product_id: int) -> ProductSupply:
        if product_id not in self._supply:
            sources = self.snap.sources.get(product_id, [])
            primary = next((s for s in sources if s.role == "primary"), None)
            supplier = self.snap.suppliers.get(primary.supplier_id) if primary else None
            po = self.snap.open_po.get(product_id)
            self._supply[product_id] = ProductSupply(
                product_id=product_id,
                status=self.snap.products[product_id]["status"],
                primary=primary,
                backups=tuple(s for s in sources if s.role == "backup"),
                supplier=supplier,
                updates=tuple(self.snap.updates_by_product.get(product_id, [])),
                open_po_quoted_at=po[0] if po else None,
                open_po_reference=po[1] if po else "",
            )
        return self._supply[product_id]

    def verdict(self, product_id: int):
        if product_id not in self._verdicts:
            supply = self.supply(product_id)
            s = self.snap
            self._verdicts[product_id] = (
                classify_supply(supply, now=s.now, calendar=s.calendar, policy=self.rules),
                self.eta(product_id),
            )
        return self._verdicts[product_id]

    def eta(self, product_id: int):
        """The customer-facing range from the ETA model, for every product at once on first use."""
        if self._etas is None:
            s = self.snap
            ids = list(s.products) if s.scope is None else [pid for pid in s.products if pid in s.scope.products]
            self._etas = customer_ranges(ids, today=s.today, policy=s.policy)
        if product_id not in self._etas:  # outside the scope read: never the answer of a missing read
            self._etas.update(customer_ranges([product_id], today=self.snap.today, policy=self.snap.policy))
        return self._etas[product_id]

    def waiting(self, product_id: int) -> dict[str, int]:
        """Orders and units waiting on a product (computed once per product, not once per order)."""
        if product_id not in self._waiting:
            lines = self.snap.waiting_by_product.get(product_id, [])
            self._waiting[product_id] = {
                "waiting_orders": len({line["order_id"] for line in lines}),
                "waiting_units": sum(line["quantity"] - line["allocated"] for line in lines),
            }
        return self._waiting[product_id]

    def order_facts(self, order_id: int) -> OrderFacts:
        order = self.snap.orders[order_id]
        inbound = tuple(
            InboundFacts(m["received_at"], m["sentiment"], tuple(m["intents"] or ()), m["escalated"])
            for m in self.snap.inbound_by_order.get(order_id, [])
        )
        return OrderFacts(
            total=order["total"],
            placed_at=order["placed_at"],
            promised_ship_by=order["promised_ship_by"],
            payment_state=order["payment_state"],
            orders_count=order["customer__orders_count"] or 0,
            customer_silent_since=self.snap.last_sent.get(order_id) or order["placed_at"],
            inbound=inbound,
        )

    def promise(self, order_id: int) -> tuple[bool, bool]:
        """(at risk, passed): the ship-by date is tomorrow's business day or earlier."""
        by = self.snap.orders[order_id]["promised_ship_by"]
        if by is None:
            return False, False
        horizon = self.snap.calendar.add_business_days(self.snap.today, 1)
        return by <= horizon, by < self.snap.today

    def supplier_block(self, product_id: int) -> dict | None:
        """The product's primary supplier section (the same for each of its packets)."""
        if product_id not in self._supplier_blocks:
            self._supplier_blocks[product_id] = self._supplier_block(product_id, *self.verdict(product_id))
        return self._supplier_blocks[product_id]

    def _supplier_block(self, product_id: int, verdict, eta) -> dict | None:
        supplier = self.supply(product_id).supplier
        if supplier is None:
            return None
        return supplier_section(
            supplier,
            updates=list(self.supply(product_id).updates),
            verdict=verdict,
            eta=eta,
            silence_days=silent_days(supplier, now=self.snap.now, calendar=self.snap.calendar),
            dispatch_history=self.snap.dispatch_history.get(supplier.id, []),
        )

    def replacements(self, product_id: int, units: int) -> tuple[Replacement, ...]:
        product = self.snap.products[product_id]
        found = [
            p
            for p in self.snap.products_by_title.get(product["title"], [])
            if p["id"] != product_id and p["status"] == "active" and p["available"] >= max(units, 1)
        ]
        found.sort(key=lambda p: (-p["available"], p["sku"]))
        return tuple(
            Replacement(
                sku=p["sku"],
                title=product_name(p["title"], p["variant_title"]),
                price=p["price"],
                cost=p["cost"],
                available=p["available"],
            )
            for p in found[:3]
        )

    def finish(self, d: Desired, ctx: RiskContext, customer: CustomerRisk, sections: dict, uncertainty: list[str]):
        d.risk_level = assess_risk(ctx, self.rules)
        d.recommended_action, reason = recommend(ctx)
        d.recommendation_reason = f"{reason} Risk is {RISK_LABELS[d.risk_level].lower()}: {' '.join(ctx.reasons)}"
        if f.RISK_RANK[d.risk_level] >= f.RISK_RANK[f.OWNER_ONLY]:
            d.escalation_reasons = list(ctx.reasons[:1])
        label = CATEGORY_LABELS[d.category]
        if d.order_id is not None:
            order = self.snap.orders[d.order_id]
            d.order_total, d.order_promised_ship_by = order["total"], order["promised_ship_by"]
        d.content = assemble(
            summary=sections.pop("summary"),
            case={"kind": d.kind, "category": d.category, "category_label": label, "title": d.title, "opened_at": None},
            policy=self.policy_block(ctx.kind),
            customer_risk=customer.as_content(),
            risk_level=d.risk_level,
            recommendation={"action": d.recommended_action, "reason": d.recommendation_reason},
            evidence={"strength": d.evidence_strength, "uncertainty": uncertainty},
            **sections,
        )
        return d

    def policy_block(self, kind: str) -> dict:
        if kind not in self._policy:
            self._policy[kind] = policy_section(self.snap.policy.version, self.rule_text, kind)
        return self._policy[kind]

    def waiting_product_block(self, product_id: int) -> dict:
        """The product section of the orders waiting on it (the same for each of their packets)."""
        if product_id not in self._product_blocks:
            self._product_blocks[product_id] = product_section(
                self.snap.products[product_id], **self.waiting(product_id)
            )
        return self._product_blocks[product_id]

    # ----------------------------------------------------------------- the four kinds

    def backorder(self, order_id: int, short: list[dict]) -> Desired:
        s = self.snap
        order = s.orders[order_id]
        by_product: dict[int, int] = {}
        for line in short:
            by_product[line["product_id"]] = (
                by_product.get(line["product_id"], 0) + line["quantity"] - line["allocated"]
            )
        main = max(by_product, key=lambda pid: (SEVERITY[self.verdict(pid)[0].category], by_product[pid], -pid))
        verdict, eta = self.verdict(main)
        supply = self.supply(main)
        units = by_product[main]
        product = s.products[main]
        skus = sorted(s.products[pid]["sku"] for pid in by_product)
        title = f"Order {order['number']} waits on {skus[0]}" + (f" and {len(skus) - 1} more" if len(skus) > 1 else "")
        facts = self.order_facts(order_id)
        customer = assess_customer(facts, self.rules)
        at_risk, passed = self.promise(order_id)
        strength, uncertainty = supply_evidence(verdict, eta)
        d = Desired(
            key=f"backorder:order:{order_id}",
            kind=f.BACKORDER,
            category=verdict.category,
            title=title,
            risk_level="",
            recommended_action="",
            recommendation_reason="",
            evidence_strength=strength,
            content={},
            order_id=order_id,
            product_id=main,
            promise_at_risk=at_risk,
            customer_silent_since=facts.customer_silent_since,
        )
        replacements = self.replacements(main, units)
        short_value = sum((line["unit_price"] * (line["quantity"] - line["allocated"]) for line in short), start=0)
        options = build_options(
            OptionInputs(
                kind=f.BACKORDER,
                units=units,
                unit_price=product["price"],
                unit_cost=product["cost"],
                short_value=short_value,
                order_total=order["total"],
                primary=supply.primary,
                backups=supply.backups,
                replacements=replacements,
                eta=eta,
                customer_needs_owner=facts.is_vip(self.rules) or facts.is_high_value(self.rules),
            ),
            self.rules,
        )
        ctx = RiskContext(
            kind=f.BACKORDER,
            category=verdict.category,
            now=s.now,
            customer=customer,
            order=facts,
            promise_at_risk=at_risk,
            promise_passed=passed,
            evidence_strength=strength,
            has_replacement=bool(replacements),
            has_backup=bool(supply.backups),
            backup_needs_consent=any(b.needs_consent for b in supply.backups),
            long_eta_days_out=long_eta_days_out(eta, s.today, self.rules.long_eta_days),
        )
        sections = {
            "summary": (
                f"Order {order['number']} waits on {sum(by_product.values())} unit(s) of {', '.join(skus)}: "
                f"{CATEGORY_LABELS[verdict.category].lower()}."
            ),
            "order": self._order(order_id),
            "product": self.waiting_product_block(main),
            "supplier": self.supplier_block(main),
            "options": options,
        }
        sections["summary"] += " " + " ".join(verdict.reasons)
        return self.finish(d, ctx, customer, sections, uncertainty)

    def _order(self, order_id: int) -> dict:
        s = self.snap
        order = s.orders[order_id]
        return order_section(
            order,
            s.lines_by_order.get(order_id, []),
            s.products,
            contacts=s.prior_contacts.get(order["customer_id"], 0),
            rules=self.rules,
        )

    def stockout(self, product_id: int) -> Desired | None:
        s = self.snap
        product = s.products[product_id]
        waiting = s.waiting_by_product.get(product_id, [])
        waiting_units = sum(line["quantity"] - line["allocated"] for line in waiting)
        waiting_orders = sorted({line["order_id"] for line in waiting})
        level = stock_level(
            available=product["available"],
            waiting_units=waiting_units,
            recent_units=s.recent_units.get(product_id, 0),
            policy=self.rules,
        )
        verdict, eta = self.verdict(product_id)
        latest = verdict.latest
        supplier_problem = latest is not None and latest.stock_status in {
            "out_of_stock",
            "discontinued",
            "variant_missing",
        }
        if level is None and not (supplier_problem and (product["status"] == "active" or waiting)):
            return None
        category = verdict.category if (waiting or supplier_problem) else f.LOW_STOCK
        supply = self.supply(product_id)
        strength, uncertainty = supply_evidence(verdict, eta)
        promise = [self.promise(oid) for oid in waiting_orders]
        d = Desired(
            key=f"stockout:product:{product_id}",
            kind=f.STOCKOUT,
            category=category,
            title=(
                f"{product['sku']}: {len(waiting_orders)} orders waiting"
                if waiting_orders
                else f"{product['sku']}: {product['available']} left ({level or 'supplier problem'})"
            ),
            risk_level="",
            recommended_action="",
            recommendation_reason="",
            evidence_strength=strength,
            content={},
            product_id=product_id,
            promise_at_risk=any(at_risk for at_risk, _ in promise),
            customer_silent_since=None,
        )
        customer = CustomerRisk(urgency="low", repeat_contact=0, intents=[], sentiment=None)
        ctx = RiskContext(
            kind=f.STOCKOUT,
            category=category,
            now=s.now,
            customer=customer,
            evidence_strength=strength,
            waiting_units=waiting_units,
            waiting_orders=len(waiting_orders),
            stock_level=level,
            product_active=product["status"] == "active",
            has_backup=bool(supply.backups),
            has_replacement=category == f.DISCONTINUED and bool(self.replacements(product_id, waiting_units)),
        )
        options = build_options(
            OptionInputs(
                kind=f.STOCKOUT,
                units=waiting_units,
                unit_price=product["price"],
                unit_cost=product["cost"],
                primary=supply.primary,
                backups=supply.backups,
                eta=eta,
            ),
            self.rules,
        )
        wording = product["product_page_wording"]
        if waiting_orders and wording:
            uncertainty = [*uncertainty, sentence(f'The product page still says "{wording}"')]
        sections = {
            "summary": (
                f"{len(waiting_orders)} orders wait on {waiting_units} unit(s) of {product['sku']}: "
                f"{CATEGORY_LABELS[category].lower()}."
                if waiting_orders
                else f"{product['sku']} is down to {product['available']} free unit(s) with recent sales."
            ),
            "product": self.waiting_product_block(product_id),
            "supplier": self.supplier_block(product_id),
            "options": options,
        }
        sections["summary"] += " " + " ".join(verdict.reasons)
        return self.finish(d, ctx, customer, sections, uncertainty)

    # ----------------------------------------------------------------- all of them

    def build(self, only: Container[str] | None = None) -> dict[str, Desired]:
        """Every case the facts call for; with ``only``, just the cases of those keys (those the
        facts still call for), built from the same snapshot as a full run would build them."""
        s = self.snap

        def wanted(key: str) -> bool:
            return only is None or key in only

        desired: dict[str, Desired] = {}
        for order_id, short in s.waiting_by_order.items():
            if not wanted(f"backorder:order:{order_id}"):
                continue
            d = self.backorder(order_id, short)
            desired[d.key] = d
        candidates = (
            set(s.waiting_by_product)
            | {pid for pid, p in s.products.items() if p["available"] <= self.rules.stock_watch_at}
            | set(s.updates_by_product)
        )
        for product_id in sorted(candidates):
            if product_id not in s.products or not wanted(f"stockout:product:{product_id}"):
                continue
            d = self.stockout(product_id)
            if d:
                desired[d.key] = d
        for row in s.shipments:
            if not wanted(f"tracking:shipment:{row['id']}"):
                continue
            d = self.tracking(row)
            if d:
                desired[d.key] = d
        waiting_by_supplier: dict[int, list[int]] = {}
        for product_id in s.waiting_by_product:
            supplier_id = s.primary_supplier.get(product_id)
            if supplier_id is not None:
                waiting_by_supplier.setdefault(supplier_id, []).append(product_id)
        for supplier_id, product_ids in sorted(waiting_by_supplier.items()):
            if not wanted(f"silence:supplier:{supplier_id}"):
                continue
            if is_silent(s.suppliers[supplier_id], now=s.now, calendar=s.calendar, policy=self.rules):
                d = self.silence(supplier_id, sorted(product_ids))
                desired[d.key] = d
        return desired


def build_desired(snap: Snapshot, only: Container[str] | None = None) -> dict[str, Desired]:
    return CaseBuilder(snap).build(only)

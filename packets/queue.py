"""The owner's queue: filters, search and facet counts over the open cases.

Facet counts come from one aggregate query: the open cases matching the search are grouped by
every facet at once, and each facet's counts are summed in Python from those groups with the
*other* active filters applied, so a count always says how many rows a click would show. The
same groups with *every* active filter applied give the number of rows, so the pager needs no
count query of its own.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, models
from django.db.models import Count, DecimalField, Exists, ExpressionWrapper, F, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from backorders.models import ChannelStock, OrderLine, Product
from suppliers.models import Supplier

from .models import Case, InboundMessage, Message

AGE_BUCKETS = [
    ("lt1", "Under a day", 0, 1),
    ("1to3", "1–3 days", 1, 3),
    ("3to7", "3–7 days", 3, 7),
    ("gt7", "Over a week", 7, None),
]
UNASSIGNED = "none"
FACETS = ["kind", "category", "risk", "supplier", "sku", "age", "assignee"]
SKU_FACET_LIMIT = 12


class QueueFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, strip=True)
    kind = forms.ChoiceField(required=False, choices=[("", "Any"), *Case.Kind.choices])
    category = forms.ChoiceField(required=False, choices=[("", "Any"), *Case.Category.choices])
    risk = forms.ChoiceField(required=False, choices=[("", "Any"), *Case.Risk.choices])
    supplier = forms.IntegerField(required=False, min_value=1)
    sku = forms.CharField(required=False, max_length=128)
    age = forms.ChoiceField(required=False, choices=[("", "Any")] + [(key, label) for key, label, *_ in AGE_BUCKETS])
    assignee = forms.RegexField(required=False, regex=r"^(none|\d+)$", error_messages={"invalid": "Unknown assignee."})
    page = forms.IntegerField(required=False, min_value=1)
    decided = forms.BooleanField(required=False, help_text="Include cases already decided (actioned).")
    view = forms.ChoiceField(
        required=False,
        choices=[("", "All open"), ("urgent", "Urgent")],
        help_text="Urgent leaves out the routine cases (they are in the routine view).",
    )

    def active(self) -> dict[str, str]:
        """The facet filters in force, as strings (the shape facet values take)."""
        data = self.cleaned_data
        return {name: str(data[name]) for name in FACETS if data.get(name) not in (None, "")}


def search_q(text: str) -> Q:
    """Order number, customer name or email, or SKU (the case's product or any line of its order)."""
    text = text.strip()
    if not text:
        return Q()
    number = text.lstrip("#")
    line_sku = OrderLine.objects.filter(order_id=OuterRef("order_id"), sku__icontains=text)
    return (
        Q(order__number__iexact=text)
        | Q(order__number__iexact=f"#{number}")
        | Q(order__number__icontains=number)
        | Q(order__customer__name__icontains=text)
        | Q(order__customer__email__icontains=text)
        | Q(product__sku__icontains=text)
        | Q(Exists(line_sku))
    )


def _age_annotation(now):
    whens = []
    for key, _label, low, high in AGE_BUCKETS:
        condition = Q(opened_at__lte=now - timedelta(days=low))
        if high is not None:
            condition &= Q(opened_at__gt=now - timedelta(days=high))
        whens.append(When(condition, then=Value(key)))
    return models.Case(*whens, default=Value("lt1"), output_field=models.CharField())


def facet_q(name: str, value: str, now) -> Q:
    if name == "kind":
        return Q(kind=value)
    if name == "category":
        return Q(category=value)
    if name == "risk":
        return Q(risk_level=value)
    if name == "supplier":
        return Q(supplier_id=int(value))
    if name == "sku":
        return Q(product__sku=value)
    if name == "age":
        _key, _label, low, high = next(b for b in AGE_BUCKETS if b[0] == value)
        q = Q(opened_at__lte=now - timedelta(days=low)) if low else Q()  # as the grouping's default: lt1
        return q & Q(opened_at__gt=now - timedelta(days=high)) if high is not None else q
    if name == "assignee":
        return Q(assignee__isnull=True) if value == UNASSIGNED else Q(assignee_id=int(value))
    raise ValueError(name)


@dataclass
class FacetValue:
    facet: str
    value: str
    label: str
    count: int
    active: bool


def filtered_cases(base, active: dict[str, str], text: str, now):
    qs = base.filter(search_q(text))
    for name, value in active.items():
        qs = qs.filter(facet_q(name, value, now))
    return qs


def _grouped(base, text: str, now) -> list[dict]:
    """The open cases matching the search, counted per combination of facet values, with labels.

    Grouped by ids first (cheap to sort or hash), then the few groups are joined to the names
    they show: joining every case to its supplier, product and assignee before grouping made
    the database sort tens of thousands of wide rows.
    """
    grouped = (
        base.filter(search_q(text))
        .annotate(age=_age_annotation(now))
        .values("supplier_id", "product_id", "assignee_id", "kind", "category", "risk_level", "age")
        .annotate(n=Count("id"))
        .order_by()
    )
    sql, params = grouped.query.sql_with_params()
    qn = connection.ops.quote_name
    tables = {
        name: qn(model._meta.db_table)
        for name, model in (("supplier", Supplier), ("product", Product), ("user", get_user_model()))
    }
    # Table names are quoted model metadata; the grouped query keeps its own parameters.
    labelled = (
        "SELECT g.kind, g.category, g.risk_level, g.supplier_id, s.name, p.sku, g.assignee_id, u.username, "  # noqa: S608
        f"u.first_name, g.age, g.n FROM ({sql}) AS g "
        f"LEFT JOIN {tables['supplier']} AS s ON s.id = g.supplier_id "
        f"LEFT JOIN {tables['product']} AS p ON p.id = g.product_id "
        f"LEFT JOIN {tables['user']} AS u ON u.id = g.assignee_id"
    )
    names = (
        "kind",
        "category",
        "risk_level",
        "supplier_id",
        "supplier__name",
        "product__sku",
        "assignee_id",
        "assignee__username",
        "assignee__first_name",
        "age",
        "n",
    )
    with connection.cursor() as cursor:
        cursor.execute(labelled, params)
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def facet_counts(base, active: dict[str, str], text: str, now) -> tuple[dict[str, list[FacetValue]], int]:
    """Every facet's values and counts, and the number of cases the active filters show: one query."""
    keyed = []
    for row in _grouped(base, text, now):
        values = {
            "kind": row["kind"],
            "category": row["category"],
            "risk": row["risk_level"],
            "supplier": str(row["supplier_id"]) if row["supplier_id"] else None,
            "sku": row["product__sku"],
            "age": row["age"],
            "assignee": str(row["assignee_id"]) if row["assignee_id"] else UNASSIGNED,
        }
        labels = {
            "supplier": row["supplier__name"],
            "sku": row["product__sku"],
            "assignee": (row["assignee__first_name"] or row["assignee__username"]) if row["assignee_id"] else None,
        }
        keyed.append((values, labels, row["n"]))
    total = sum(n for values, _, n in keyed if all(values[k] == v for k, v in active.items()))

    fixed_labels = {
        "kind": dict(Case.Kind.choices),
        "category": dict(Case.Category.choices),
        "risk": dict(Case.Risk.choices),
        "age": {key: label for key, label, *_ in AGE_BUCKETS},
    }
    result: dict[str, list[FacetValue]] = {}
    for facet in FACETS:
        others = {k: v for k, v in active.items() if k != facet}
        counts: dict[str, int] = defaultdict(int)
        labels: dict[str, str] = {}
        for values, row_labels, n in keyed:
            value = values[facet]
            if value is None:
                continue
            if all(values[k] == v for k, v in others.items()):
                counts[value] += n
            labels.setdefault(value, row_labels.get(facet) or fixed_labels.get(facet, {}).get(value, value))
        if facet == "assignee":
            labels[UNASSIGNED] = "Unassigned"
        order = _facet_order(facet, counts, labels)
        chosen = active.get(facet)
        if chosen is not None and chosen not in order:
            order.append(chosen)
        if facet == "sku" and len(order) > SKU_FACET_LIMIT:
            top = order[:SKU_FACET_LIMIT]
            if chosen is not None and chosen not in top:
                top.append(chosen)
            order = top
        result[facet] = [
            FacetValue(facet, value, labels.get(value, value), counts.get(value, 0), value == chosen) for value in order
        ]
    return result, total


def _facet_order(facet: str, counts: dict[str, int], labels: dict[str, str]) -> list[str]:
    if facet == "kind":
        return [v for v in Case.Kind.values if v in counts]
    if facet == "risk":
        return sorted((v for v in counts), key=lambda v: -Case.RISK_RANK[v])
    if facet == "age":
        return [key for key, *_ in AGE_BUCKETS if key in counts]
    if facet == "assignee":
        return sorted(counts, key=lambda v: (v != UNASSIGNED, labels.get(v, v).lower()))
    return sorted(counts, key=lambda v: (-counts[v], labels.get(v, v).lower()))


# What puts an order's value at stake once more: each step of a missed promise (missed at all, by a
# week, by two), of customer silence (three days, a week, two) and a chargeback sign (twice).
BREACH_STEPS = (0, 7, 14)
SILENCE_STEPS = (3, 7, 14)
CHARGEBACK_WEIGHT = 2


def _steps_passed(conditions) -> models.Expression:
    total = Value(0)
    for condition in conditions:
        total = total + models.Case(When(condition, then=Value(1)), default=Value(0))
    return total


def oldest_unanswered_word():
    """When the oldest customer message on the case that no sent message of ours followed arrived."""
    answered = Message.objects.filter(
        case_id=OuterRef("case_id"), audience=Message.Audience.CUSTOMER, sent_at__gte=OuterRef("received_at")
    )
    unanswered = (
        InboundMessage.objects.filter(case_id=OuterRef("pk"))
        .exclude(Exists(answered))
        .order_by("received_at")
        .values("received_at")[:1]
    )
    return Subquery(unanswered)


def store_today(now=None):
    """Today's date in the store's time zone (a promise is missed from the store's next day)."""
    return timezone.localdate(now or timezone.now(), timezone=zoneinfo.ZoneInfo(settings.STORE_TIME_ZONE))


def ranked(cases, now):
    """Cases whose customer waits past the reply deadline first (an escalation); then by money and
    trust at stake: the order's value, counted once more for each step of a missed promise, of
    customer silence and for a chargeback sign; then by risk and silence.

    The order's value and promise are the case's copies (``Case.order_total``,
    ``Case.order_promised_ship_by``, kept by the sweep), so the rank reads the cases alone.
    Portable SQL (the demo runs on SQLite): steps are date comparisons, not date arithmetic."""
    today = store_today(now)
    trust = (
        _steps_passed(Q(order_promised_ship_by__lt=today - timedelta(days=d)) for d in BREACH_STEPS)
        + _steps_passed(Q(customer_silent_since__lte=now - timedelta(days=d)) for d in SILENCE_STEPS)
        + models.Case(When(risk_level=Case.Risk.CHARGEBACK_WATCH, then=Value(CHARGEBACK_WEIGHT)), default=Value(0))
    )
    money = DecimalField(max_digits=14, decimal_places=2)
    value = Coalesce(F("order_total"), Value(0), output_field=money)
    return cases.annotate(
        stake=ExpressionWrapper(value * (Value(1) + trust), output_field=money),
        unanswered_since=oldest_unanswered_word(),
    ).order_by("-reply_overdue", "-stake", "-risk_rank", F("customer_silent_since").asc(nulls_last=True), "id")


def customer_wrote_at() -> Subquery:
    """When the customer last wrote about the case (the queue shows "customer wrote N min ago")."""
    latest = InboundMessage.objects.filter(case=OuterRef("pk")).order_by("-received_at", "-id")
    return Subquery(latest.values("received_at")[:1])


def oversell_on() -> Subquery:
    """The channel that last offered more of the case's product than the desk had, while the desk's
    number has not been set there since (the queue row flags it; the product page says more)."""
    open_mismatch = ChannelStock.objects.filter(product=OuterRef("product_id"), mismatch_at__isnull=False).filter(
        Q(pushed_at__isnull=True) | Q(pushed_at__lt=F("mismatch_at"))
    )
    return Subquery(open_mismatch.order_by("-mismatch_at").values("platform")[:1])


class RankedCases:
    """The queue's cases as the paginator takes them: a page is ranked over narrow rows (the ids
    and what the rank reads) and only its own rows are then read whole, in the same query.

    Ranking every matching case with all a row shows made the database sort wide rows (on disk
    from about 18,000 cases); the page's ids come from a bounded sort of a few columns instead.
    ``total`` is the count the facets already made, so no count query runs.
    """

    ordered = True

    def __init__(self, cases, total: int):
        self.cases, self.total = cases, total

    def count(self) -> int:
        return self.total

    def __len__(self) -> int:
        return self.total

    def __getitem__(self, key: slice) -> list:
        if not isinstance(key, slice):
            raise TypeError("RankedCases takes slices")
        return list(self.cases.filter(pk__in=self.cases.values("pk")[key]))


def queue(form: QueueFilterForm, now=None, *, leave_out=()):
    """The queue for a valid filter form: (cases queryset, facets, active filters, number of cases).
    ``leave_out`` names cases the view does not show (the urgent view leaves out routine cases)."""
    now = now or timezone.now()
    active = form.active()
    text = form.cleaned_data.get("q") or ""
    cases, counted = (
        Case.objects.for_queue().annotate(customer_wrote_at=customer_wrote_at(), oversell_on=oversell_on()),
        Case.objects.open(),
    )
    if not form.cleaned_data.get("decided"):
        # decided cases leave the queue until something changes (the sweep reopens them then)
        cases, counted = cases.exclude(status=Case.Status.ACTIONED), counted.exclude(status=Case.Status.ACTIONED)
    if leave_out:
        cases, counted = cases.exclude(pk__in=list(leave_out)), counted.exclude(pk__in=list(leave_out))
    cases = ranked(filtered_cases(cases, active, text, now), now)
    facets, total = facet_counts(counted, active, text, now)
    return cases, facets, active, total

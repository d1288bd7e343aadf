"""The owner's pages, in process through Django's test client with a logged-in owner.

Baselines: the Django admin's pages for the same Case table at the same size (the changelist of
open cases; the change page of the same case). Requests alternate between ours and the admin's
so the machine's noise falls on both alike.
"""

from __future__ import annotations

import time

from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from packets.models import Case

from .core import Context, Result, percentile

ADMIN_QUEUE = "/admin/packets/case/?status__exact=open"


def owner_client() -> Client:
    client = Client()
    client.force_login(get_user_model().objects.get(username="owner"))
    return client


def _get(client: Client, url: str) -> float:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} answered {response.status_code}")
    return elapsed


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    return len(captured.captured_queries)


def _side_by_side(client: Client, ours: list[str], theirs: list[str], rounds: int) -> tuple[list[float], list[float]]:
    for url in ours[:3] + theirs[:3]:  # warm templates and caches
        _get(client, url)
    a, b = [], []
    for i in range(rounds):
        a.append(_get(client, ours[i % len(ours)]))
        b.append(_get(client, theirs[i % len(theirs)]))
    return a, b


def queue_page(ctx: Context) -> list[Result]:
    client = owner_client()
    query = ctx.queue_query.lstrip("?")
    url = "/cases/" + (f"?{query}" if query else "")
    ours, admin = _side_by_side(client, [url], [ADMIN_QUEUE], ctx.n(100, 10))
    our_queries, admin_queries = _queries(client, url), _queries(client, ADMIN_QUEUE)
    note = f"GET {url}, 25 rows a page, {Case.objects.open().count():,} open cases"
    label = f"Django admin changelist {ADMIN_QUEUE}"
    return [
        Result(
            "queue_page_p50_ms",
            percentile(ours, 50) * 1000,
            "ms",
            percentile(admin, 50) * 1000,
            target="< baseline",
            note=note,
            baseline_label=label,
        ),
        Result(
            "queue_page_p99_ms",
            percentile(ours, 99) * 1000,
            "ms",
            percentile(admin, 99) * 1000,
            target="< baseline",
            note=note,
            baseline_label=label,
        ),
        Result("queue_page_queries", our_queries, "queries", admin_queries, note=note, baseline_label=label),
    ]


def packet_page(ctx: Context) -> list[Result]:
    client = owner_client()
    ids = list(Case.objects.open().filter(packets__isnull=False).order_by("pk").values_list("pk", flat=True)[:5000])
    sample = ids[:: max(1, len(ids) // 20)][:20]
    ours_urls = [f"/cases/{pk}/" for pk in sample]
    admin_urls = [f"/admin/packets/case/{pk}/change/" for pk in sample]
    ours, admin = _side_by_side(client, ours_urls, admin_urls, ctx.n(100, 10))
    return [
        Result(
            "packet_page_p50_ms",
            percentile(ours, 50) * 1000,
            "ms",
            percentile(admin, 50) * 1000,
            note=f"/cases/<id>/ over {len(sample)} cases with packets",
            baseline_label="Django admin change page of the same case",
        ),
        Result(
            "packet_page_queries",
            _queries(client, ours_urls[0]),
            "queries",
            _queries(client, admin_urls[0]),
            baseline_label="Django admin change page of the same case",
        ),
    ]

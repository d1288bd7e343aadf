"""One packet PDF, as the owner downloads it (``packets.audit.export.export_case_pdf``).

Measured twice: the first render of a packet (its kept file removed before each run, so it is
laid out and written) and a download of a packet whose kept file is there (``pdf_cache``).
Baseline: the same packet's HTML rendered by the template alone (no layout, no PDF), so the
ratio shows what layout and PDF writing add.
"""

from __future__ import annotations

import tempfile
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count
from django.template.loader import render_to_string

from packets.models import Case

from .core import Context, Result, median, missing


def packet_pdf(ctx: Context) -> list[Result]:
    try:
        from packets.audit.export import case_for_export, export_case_pdf, packet_context
    except ImportError:
        return [missing("packet_pdf_s", "s", "packets.audit.export", target="<= 0.5")]
    owner = get_user_model().objects.get(username="owner")
    # a packet with two versions and a message, as the target names, else the first with a packet
    fuller = Case.objects.annotate(versions=Count("packets", distinct=True)).filter(
        versions__gte=2, messages__isnull=False
    )
    case_id = (
        fuller.order_by("pk").values_list("pk", flat=True).first()
        or Case.objects.filter(packets__isnull=False).order_by("pk").values_list("pk", flat=True).first()
    )
    if case_id is None:
        return [Result("packet_pdf_s", None, "s", target="<= 0.5", note="no case with a packet")]
    from packets.audit import pdf_cache

    with tempfile.TemporaryDirectory(prefix="bench-pdfs-") as folder:
        kept_before, settings.PACKET_PDF_CACHE_DIR = settings.PACKET_PDF_CACHE_DIR, folder
        try:
            return _measure(ctx, case_id, owner, pdf_cache, export_case_pdf, case_for_export, packet_context)
        finally:
            settings.PACKET_PDF_CACHE_DIR = kept_before


def _measure(ctx, case_id, owner, pdf_cache, export_case_pdf, case_for_export, packet_context) -> list[Result]:
    from packets.audit.export import PACKET_TEMPLATE

    export_case_pdf(case_id, user=owner, via="bench")  # fonts, stylesheet and templates load once per process
    runs = ctx.n(7, 2)
    first_times, cached_times, html_times, size = [], [], [], 0
    for _ in range(runs):
        pdf_cache.forget([case_id])
        started = time.perf_counter()
        pdf, _, _ = export_case_pdf(case_id, user=owner, via="bench")
        first_times.append(time.perf_counter() - started)
        size = len(pdf)
        started = time.perf_counter()
        again, _, _ = export_case_pdf(case_id, user=owner, via="bench")
        cached_times.append(time.perf_counter() - started)
        if again != pdf:
            raise RuntimeError("the kept PDF differs from the one just rendered")
        started = time.perf_counter()
        render_to_string(PACKET_TEMPLATE, packet_context(case_for_export(case_id)))
        html_times.append(time.perf_counter() - started)
    label = "the packet's HTML from the template, without layout or PDF"
    note = f"median of {runs} exports of case {case_id} ({size / 1024:.0f} KB PDF)"
    return [
        Result(
            "packet_pdf_s",
            median(first_times),
            "s",
            median(html_times),
            target="<= 0.5",
            note=f"first render (no kept file), {note}",
            baseline_label=label,
        ),
        Result(
            "packet_pdf_cached_s",
            median(cached_times),
            "s",
            median(html_times),
            target="<= 0.5",
            note=f"served from the kept file (nothing it shows changed), {note}",
            baseline_label=label,
        ),
    ]

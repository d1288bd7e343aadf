"""One packet PDF, as the owner downloads it (``packets.audit.export.export_case_pdf``).

Baseline: the same packet's HTML rendered by the template alone (no layout, no PDF), so the
ratio shows what layout and PDF writing add.
"""

from __future__ import annotations

import time

from django.contrib.auth import get_user_model
from django.template.loader import render_to_string

from packets.models import Case

from .core import Context, Result, median, missing


def packet_pdf(ctx: Context) -> list[Result]:
    try:
        from packets.audit.export import PACKET_TEMPLATE, case_for_export, export_case_pdf, packet_context
    except ImportError:
        return [missing("packet_pdf_s", "s", "packets.audit.export", target="<= 0.5")]
    owner = get_user_model().objects.get(username="owner")
    case_id = Case.objects.filter(packets__isnull=False).order_by("pk").values_list("pk", flat=True).first()
    if case_id is None:
        return [Result("packet_pdf_s", None, "s", target="<= 0.5", note="no case with a packet")]
    export_case_pdf(case_id, user=owner, via="bench")  # fonts and templates load once per process
    runs = ctx.n(7, 2)
    pdf_times, html_times, size = [], [], 0
    for _ in range(runs):
        started = time.perf_counter()
        pdf, _, _ = export_case_pdf(case_id, user=owner, via="bench")
        pdf_times.append(time.perf_counter() - started)
        size = len(pdf)
        started = time.perf_counter()
        render_to_string(PACKET_TEMPLATE, packet_context(case_for_export(case_id), exported_by=owner))
        html_times.append(time.perf_counter() - started)
    return [
        Result(
            "packet_pdf_s",
            median(pdf_times),
            "s",
            median(html_times),
            target="<= 0.5",
            note=f"median of {runs} exports of case {case_id} ({size / 1024:.0f} KB PDF)",
            baseline_label="the packet's HTML from the template, without layout or PDF",
        )
    ]

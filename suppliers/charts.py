"""Small charts drawn as inline SVG on the server, so they show in the browser and print in PDFs.

Each function returns markup safe to put in a template. No JavaScript, no external fonts.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

INK = "#1d2433"
MUTED = "#5b6475"
LINE = "#dde2ea"
ACCENT = "#2456c7"
BAD = "#b42318"
FONT = 'font-family="system-ui,Arial,sans-serif"'  # presentation attributes: the CSP allows no inline style


def _fmt(value: float, unit: str) -> str:
    text = f"{value:.0f}" if abs(value - round(value)) < 0.05 or abs(value) >= 10 else f"{value:.1f}"
    return f"{text}{unit}"


def bar_chart(
    items: Sequence[tuple[str, float]],
    *,
    title: str,
    unit: str = "",
    max_value: float | None = None,
    width: int = 560,
    bar_height: int = 18,
    color: str = ACCENT,
    highlight: set[str] | None = None,
) -> SafeString:
    """Horizontal bars, one per (label, value), the value printed at the bar's end."""
    highlight = highlight or set()
    label_width = 170
    gap = 6
    top = 22
    height = top + len(items) * (bar_height + gap) + 4
    top_value = max_value if max_value is not None else max([v for _, v in items] + [0])
    scale = (width - label_width - 60) / top_value if top_value > 0 else 0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-label="{escape(title)}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" {FONT} font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="14" fill="{INK}" font-weight="600">{escape(title)}</text>',
    ]
    if not items:
        parts.append(f'<text x="0" y="{top + 12}" fill="{MUTED}">No data</text>')
    for i, (label, value) in enumerate(items):
        y = top + i * (bar_height + gap)
        length = max(0.0, value) * scale
        fill = BAD if label in highlight else color
        short = label if len(label) <= 26 else label[:25] + "…"
        parts.append(
            f'<text x="{label_width - 8}" y="{y + bar_height - 5}" text-anchor="end" fill="{INK}">'
            f"{escape(short)}</text>"
            f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar_height}" rx="2" fill="{fill}"/>'
            f'<text x="{label_width + length + 5:.1f}" y="{y + bar_height - 5}" fill="{MUTED}">'
            f"{escape(_fmt(value, unit))}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every label and title above is escaped


def column_chart(
    points: Sequence[tuple[str, float | None]],
    *,
    title: str,
    unit: str = "",
    max_value: float | None = None,
    width: int = 560,
    height: int = 180,
    color: str = ACCENT,
) -> SafeString:
    """Vertical columns over time (months): a dash where a period has no data, a grey sliver for a zero."""
    left, bottom, top = 36, 22, 24
    plot_h = height - top - bottom
    values = [v for _, v in points if v is not None]
    top_value = max_value if max_value is not None else max([*values, 1])
    top_value = top_value or 1
    slot = (width - left - 4) / max(len(points), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-label="{escape(title)}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" {FONT} font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="14" fill="{INK}" font-weight="600" font-size="12">{escape(title)}</text>',
    ]
    for fraction in (0, 0.5, 1):
        y = top + plot_h * (1 - fraction)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - 4}" y2="{y:.1f}" stroke="{LINE}"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}">'
            f"{escape(_fmt(top_value * fraction, unit))}</text>"
        )
    for i, (label, value) in enumerate(points):
        x = left + i * slot
        if value is not None:
            h = max(2.0, max(0.0, min(value, top_value)) / top_value * plot_h)  # a zero still shows it was measured
            parts.append(
                f'<rect x="{x + slot * 0.15:.1f}" y="{top + plot_h - h:.1f}" width="{slot * 0.7:.1f}" '
                f'height="{h:.1f}" fill="{color if value > 0 else MUTED}">'
                f"<title>{escape(label)}: {escape(_fmt(value, unit))}</title></rect>"
            )
        else:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{top + plot_h - 3}" text-anchor="middle" fill="{MUTED}">–</text>'
            )
        parts.append(
            f'<text x="{x + slot / 2:.1f}" y="{height - 6}" text-anchor="middle" fill="{MUTED}">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every label and title above is escaped

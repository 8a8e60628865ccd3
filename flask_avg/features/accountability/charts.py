"""Charts for the board's dashboard, drawn on the server as inline SVG.

No JavaScript library and no external service: each chart is a small ``<svg>``
with ``role="img"``, a ``<title>`` and an ``aria-label``, followed by the same
numbers as a table inside ``<details>`` for screen readers and for anyone who
wants the figures. Colours come from CSS custom properties
(``--avg-chart-1`` ... ``--avg-chart-4``) with fallbacks, so the host's brand
colours carry over. Every text is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

#: fill of each series: the host's custom property, then a default
COLOURS = (
    "var(--avg-chart-1, var(--avg-brand, #1f6f8b))",
    "var(--avg-chart-2, #d9822b)",
    "var(--avg-chart-3, #6a994e)",
    "var(--avg-chart-4, #8d6a9f)",
)
WIDTH, HEIGHT = 640, 240
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 40, 8, 12, 48


@dataclass
class Series:
    name: str
    values: list[int]


def _nice_max(value: int) -> int:
    """A round top for the axis: 1, 2, 5, 10, 20, 50 ... at least ``value``."""
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1)
    return next(step * magnitude for step in (1, 2, 5, 10) if step * magnitude >= value)


def bar_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    summary: str = "",
    stacked: bool = False,
) -> Markup:
    """A bar chart (grouped, or ``stacked``) with its text alternative.

    ``labels`` name the bars (months, states); each :class:`Series` holds one value
    per label. Returns markup: a ``<figure>`` with the SVG and a data table.
    """
    n = max(len(labels), 1)
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    peak = max(totals if stacked else [v for s in series for v in s.values] or [0], default=0)
    top = _nice_max(peak)
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    slot = plot_w / n
    groups = 1 if stacked else max(len(series), 1)
    bar_w = max(slot * 0.7 / groups, 1)
    parts: list[str] = []
    # the axis: zero, half and top
    for frac in (0, 0.5, 1):
        y = PAD_TOP + plot_h * (1 - frac)
        parts.append(
            f'<line x1="{PAD_LEFT}" y1="{y:.1f}" x2="{WIDTH - PAD_RIGHT}" y2="{y:.1f}" '
            'stroke="currentColor" stroke-opacity="0.2"/>'
            f'<text x="{PAD_LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="currentColor">{round(top * frac)}</text>'
        )
    for i, label in enumerate(labels):
        x0 = PAD_LEFT + slot * i + slot * 0.15
        base: float = PAD_TOP + plot_h
        for j, s in enumerate(series):
            value = s.values[i]
            h = plot_h * value / top if top else 0
            x = x0 if stacked else x0 + bar_w * j
            y = base - h
            if h > 0:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                    f'style="fill: {COLOURS[j % len(COLOURS)]}"><title>{escape(label)}, '
                    f"{escape(s.name)}: {value}</title></rect>"
                )
            if stacked:
                base = y
        parts.append(
            f'<text x="{PAD_LEFT + slot * i + slot / 2:.1f}" y="{HEIGHT - PAD_BOTTOM + 16}" '
            f'text-anchor="middle" font-size="11" fill="currentColor">{escape(label)}</text>'
        )
    # the legend, under the labels
    x = PAD_LEFT
    for j, s in enumerate(series):
        parts.append(
            f'<rect x="{x}" y="{HEIGHT - 18}" width="10" height="10" '
            f'style="fill: {COLOURS[j % len(COLOURS)]}"/>'
            f'<text x="{x + 14}" y="{HEIGHT - 9}" font-size="11" fill="currentColor">'
            f"{escape(s.name)}</text>"
        )
        x += 24 + 7 * len(s.name)
    label = escape(f"{title}. {summary}" if summary else title)
    svg = (
        f'<svg class="avg-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{label}" '
        f'preserveAspectRatio="xMidYMid meet" width="100%">'
        f"<title>{label}</title>{''.join(parts)}</svg>"
    )
    return Markup(  # noqa: S704 - every text above is escaped
        f'<figure class="avg-card avg-figure" id="{chart_id}">'
        f"<figcaption><strong>{escape(title)}</strong></figcaption>{svg}"
        f"{data_table(labels, series)}</figure>"
    )


def data_table(labels: Sequence[str], series: Sequence[Series]) -> str:
    """The chart's numbers as a table inside ``<details>``."""
    from flask_avg.core.i18n import gettext as _

    head = "".join(f'<th scope="col">{escape(s.name)}</th>' for s in series)
    rows = "".join(
        f'<tr><th scope="row">{escape(label)}</th>'
        + "".join(f"<td>{s.values[i]}</td>" for s in series)
        + "</tr>"
        for i, label in enumerate(labels)
    )
    return (
        f"<details><summary>{escape(_('The figures'))}</summary>"
        f'<div class="avg-table-wrap"><table class="avg-table"><thead><tr><td></td>{head}'
        f"</tr></thead><tbody>{rows}</tbody></table></div></details>"
    )


def as_series(name: Any, values: Sequence[int]) -> Series:
    return Series(str(name), [int(v) for v in values])

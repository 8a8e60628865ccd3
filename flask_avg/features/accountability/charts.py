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
WIDTH, HEIGHT = 640, 280
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 40, 8, 12, 84
#: text size in the SVG's own units; on a phone the chart is drawn about half size
FONT = 14
#: the average width of a character at ``FONT`` (a rough measure, for fitting labels)
CHAR_W = FONT * 0.56
#: a category label takes at most this many lines under its bar
LABEL_LINES = 3


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


def _ticks(top: int) -> list[int]:
    """Whole numbers on the axis: zero, the half when it is whole, and the top."""
    return [0, top // 2, top] if top % 2 == 0 else [0, top]


def _wrap(label: str, width: float) -> list[str]:
    """``label`` in at most :data:`LABEL_LINES` lines of ``width``; the rest cut with an ellipsis."""
    fits = max(int(width // CHAR_W), 3)
    lines: list[str] = []
    for word in label.split():
        if lines and len(lines[-1]) + 1 + len(word) <= fits:
            lines[-1] += " " + word
        else:
            lines.append(word)
    if len(lines) > LABEL_LINES:
        lines = lines[:LABEL_LINES]
        lines[-1] += "\u2026"
    return [line if len(line) <= fits else line[: fits - 1] + "\u2026" for line in lines]


def _label_step(labels: Sequence[str], slot: float) -> int:
    """Show every n-th label when one line of each does not fit its slot (months, say)."""
    widest = max((len(label) for label in labels), default=0) * CHAR_W + 6
    if widest <= slot or any(" " in label and len(label) > 12 for label in labels):
        return 1
    return int(-(-widest // slot))


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
    # the axis: whole numbers only
    for tick in _ticks(top):
        y = PAD_TOP + plot_h * (1 - tick / top)
        parts.append(
            f'<line x1="{PAD_LEFT}" y1="{y:.1f}" x2="{WIDTH - PAD_RIGHT}" y2="{y:.1f}" '
            'stroke="currentColor" stroke-opacity="0.2"/>'
            f'<text x="{PAD_LEFT - 4}" y="{y + 5:.1f}" text-anchor="end" font-size="{FONT}" '
            f'fill="currentColor">{tick}</text>'
        )
    # months get every n-th label (the last one always); states wrap onto two lines
    step = _label_step(labels, slot)
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
        if (len(labels) - 1 - i) % step:
            continue
        centre = PAD_LEFT + slot * i + slot / 2
        lines = [label] if step > 1 else _wrap(label, slot - 4)
        spans = "".join(
            f'<tspan x="{centre:.1f}" dy="{0 if k == 0 else FONT + 2}">{escape(line)}</tspan>'
            for k, line in enumerate(lines)
        )
        parts.append(
            f'<text y="{HEIGHT - PAD_BOTTOM + FONT + 4}" text-anchor="middle" '
            f'font-size="{FONT}" fill="currentColor">{spans}</text>'
        )
    # the legend, under the labels
    x = PAD_LEFT
    for j, s in enumerate(series):
        parts.append(
            f'<rect x="{x}" y="{HEIGHT - 17}" width="12" height="12" '
            f'style="fill: {COLOURS[j % len(COLOURS)]}"/>'
            f'<text x="{x + 17}" y="{HEIGHT - 6}" font-size="{FONT}" fill="currentColor">'
            f"{escape(s.name)}</text>"
        )
        x += 34 + CHAR_W * len(s.name)
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

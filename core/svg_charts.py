"""The charts of the pages a visitor opens first, as inline SVG: DataFrame in, SVG markup out; no streamlit, no
JavaScript.

The neuron card (histogram, zero-shot labels), the search page (ranked neurons), the conditional-probability page
(stacked fractions, whose bars pick a bucket when clicked, and per-category boxes) and the typographic-attack page
(class probabilities, neurons that rose and fell, the Stroop picture's probabilities) draw them inside their own HTML
blocks (``ui.html_block``), so those pages' first loads fetch no chart library (Vega-Lite's code is the largest a
page fetches) and a neuron switch repaints small SVGs. They look like ``core.charts``' Altair builders of the same
data: same titles, axes, colours and hover texts (``<title>``); bars carry their label and value (``data-label``,
``data-value``). Every text that comes from data is escaped. Sizes are in SVG units on a ``viewBox``; the drawing
scales to the column's width.
"""
from __future__ import annotations

import math
from html import escape

import pandas as pd

from core.charts import EXCITE, INHIBIT

WIDTH = 420  # viewBox width; the SVG is drawn at the column's width
TITLE_H, GRID, AXIS, MUTED = 26, "#e6e6e6", "#888", "#666"
FONT = 'font-family="inherit" font-size="11"'


def nice_ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    """Round tick values covering [lo, hi] (steps of 1, 2 or 5 x 10^k), about ``count`` of them."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else [0.0]
    raw = (hi - lo) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step + 1e-9) * step
    ticks, t = [], first
    while t <= hi + step * 1e-9 + step:
        ticks.append(round(t, 10))
        if t >= hi - 1e-12:
            break
        t += step
    return ticks


def _fmt(v: float) -> str:
    v = 0.0 if v == 0 else v  # no "-0"
    return f"{v:,.0f}" if abs(v) >= 1000 or float(v).is_integer() else f"{v:g}"


def _svg(height: float, title: str, body: str, label: str) -> str:
    return (f'<svg viewBox="0 0 {WIDTH} {height:.0f}" width="100%" role="img" aria-label="{escape(label)}" '
            f'style="display:block;max-width:{WIDTH * 1.6:.0f}px" xmlns="http://www.w3.org/2000/svg">'
            f'<text x="0" y="15" font-family="inherit" font-size="14" font-weight="600" fill="currentColor">'
            f'{escape(title)}</text>{body}</svg>')


def _x_axis(ticks, sx, y0: float, x_left: float, x_right: float, title: str, grid_top: float | None,
            shown: list[str] | None = None) -> str:
    out = [f'<line x1="{x_left:.1f}" x2="{x_right:.1f}" y1="{y0:.1f}" y2="{y0:.1f}" stroke="{AXIS}"/>']
    for i, t in enumerate(ticks):
        x = sx(t)
        if grid_top is not None:
            out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{grid_top:.1f}" y2="{y0:.1f}" stroke="{GRID}"/>')
        out.append(f'<text x="{x:.1f}" y="{y0 + 14:.1f}" text-anchor="middle" {FONT} fill="{MUTED}">'
                   f'{escape(shown[i] if shown else _fmt(t))}</text>')
    out.append(f'<text x="{(x_left + x_right) / 2:.1f}" y="{y0 + 32:.1f}" text-anchor="middle" {FONT} '
               f'fill="{MUTED}">{escape(title)}</text>')
    return "".join(out)


def _y_grid(ticks, sy, x_left: float, x_right: float) -> str:
    """Horizontal grid lines at ``ticks`` with their values left of the plot."""
    return "".join(f'<line x1="{x_left}" x2="{x_right}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" stroke="{GRID}"/>'
                   f'<text x="{x_left - 5}" y="{sy(t) + 4:.1f}" text-anchor="end" {FONT} fill="{MUTED}">'
                   f'{escape(_fmt(t))}</text>' for t in ticks)


def histogram_svg(df: pd.DataFrame, *, marker_z: float | None = None,
                  title: str = "Activation histogram over the collection") -> str:
    """``core.charts.activation_histogram_chart`` as SVG.

    Args:
        df: ``neuron_card.activation_histogram`` output: columns lo, hi, count, lo_z, hi_z.
        marker_z: optional x position (std-devs) marked with a rule, e.g. a query image's value.
    """
    left, right, top, plot_h = 48, 14, TITLE_H + 8, 150
    x0, x1 = float(df["lo_z"].min()), float(df["hi_z"].max())
    x0, x1 = min(x0, 0.0), max(x1, 0.0)
    xt = nice_ticks(x0, x1)
    x0, x1 = min(x0, xt[0]), max(x1, xt[-1])
    ymax = max(1.0, float(df["count"].max()))
    yt = nice_ticks(0.0, ymax, 3)
    ymax = max(ymax, yt[-1])
    bottom = top + plot_h

    def sx(v: float) -> float:
        return left + (v - x0) / (x1 - x0 or 1.0) * (WIDTH - left - right)

    def sy(v: float) -> float:
        return bottom - v / ymax * plot_h

    body = [_y_grid(yt, sy, left, WIDTH - right)]
    body.append(f'<text transform="translate(11 {top + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle" {FONT} '
                f'fill="{MUTED}">images</text>')
    body.append(_x_axis(xt, sx, bottom, left, WIDTH - right, "activation (std-devs from zero)", top))
    for r in df[df["count"] > 0].itertuples(index=False):
        xa, xb = sx(float(r.lo_z)), sx(float(r.hi_z))
        body.append(f'<rect data-bar="1" x="{xa:.2f}" y="{sy(float(r.count)):.2f}" width="{max(0.8, xb - xa - 0.4):.2f}" '
                    f'height="{bottom - sy(float(r.count)):.2f}" fill="{EXCITE}" fill-opacity="0.85">'
                    f'<title>raw from {float(r.lo):.2f} to {float(r.hi):.2f}: {int(r.count):,} images</title></rect>')
    body.append(f'<line data-zero="1" x1="{sx(0):.2f}" x2="{sx(0):.2f}" y1="{top}" y2="{bottom}" stroke="#555" '
                'stroke-dasharray="4 3"/>')
    if marker_z is not None and math.isfinite(float(marker_z)):
        xm = sx(min(max(float(marker_z), x0), x1))
        body.append(f'<line data-marker="1" x1="{xm:.2f}" x2="{xm:.2f}" y1="{top}" y2="{bottom}" stroke="{INHIBIT}" '
                    f'stroke-width="2"><title>{float(marker_z):+.2f} std</title></line>')
    return _svg(bottom + 40, title, "".join(body), title)


def zero_shot_labels_svg(df: pd.DataFrame, *, title: str = "Zero-shot labels") -> str:
    """``core.charts.zero_shot_labels_chart`` as SVG: diverging bars in rank order, excite / inhibit colours.

    Args:
        df: ``neuron_card.zero_shot_labels`` output: columns rank, phrase, score, side.
    """
    rows = df.sort_values("rank", kind="stable")
    sides = [str(x) for x in rows["side"]]
    return bars_svg([str(p) for p in rows["phrase"]], rows["score"].to_numpy(float), sides,
                    [EXCITE if side == "excites" else INHIBIT for side in sides],
                    title=title, x_title="cosine with the neuron's direction",
                    legend=(("excites", EXCITE), ("inhibits", INHIBIT)), fmt=".3f")


def neuron_scores_svg(df: pd.DataFrame, *, score: str = "score", title: str = "Matching neurons") -> str:
    """``core.charts.neuron_scores_chart`` as SVG: ranked neurons (``unit`` vs ``score``), best at the top."""
    return bars_svg([f"unit {int(u)}" for u in df["unit"]], df[score].to_numpy(float), [score] * len(df),
                    [EXCITE] * len(df), title=title, x_title=score, fmt=".3f")


def class_probs_svg(df: pd.DataFrame, *, top: int = 10, title: str = "Zero-shot class probabilities") -> str:
    """``core.charts.class_probs_chart`` as SVG: each of the ``top`` classes (by its higher probability) as a pair of
    bars, before (blue) above after (red), on a 0-100 % axis.

    Args:
        df: ``AttackResult.probs``: class, before, after, change.
    """
    keep = df.assign(peak=df[["before", "after"]].max(axis=1)).nlargest(top, "peak")
    labels, names, values, kinds, colours = [], [], [], [], []
    for name, before, after in zip(keep["class"], keep["before"], keep["after"]):
        for kind, value, colour in (("before", before, INHIBIT), ("after", after, EXCITE)):
            labels.append(str(name) if kind == "before" else "")  # one label per pair
            names.append(str(name))
            values.append(float(value))
            kinds.append(kind)
            colours.append(colour)
    return bars_svg(labels, values, kinds, colours, title=title, x_title="probability", domain=(0.0, 1.0),
                    percent=True, legend=(("before", INHIBIT), ("after", EXCITE)), tip_labels=names, step=11,
                    group=2)


def neuron_delta_svg(df: pd.DataFrame, *, value: str = "delta",
                     title: str = "Neurons that rose and fell most") -> str:
    """``core.charts.neuron_delta_chart`` as SVG: per-neuron change, largest first, risers red and fallers blue."""
    rows = df.sort_values(value, ascending=False, kind="stable")
    vals = rows[value].to_numpy(float)
    return bars_svg([f"unit {int(u)}" for u in rows["unit"]], vals, ["rose" if v >= 0 else "fell" for v in vals],
                    [EXCITE if v >= 0 else INHIBIT for v in vals], title=title, x_title="activation change",
                    fmt="+.3f")


def probs_svg(df: pd.DataFrame, *, title: str = "Zero-shot probabilities") -> str:
    """``core.charts.probs_chart`` as SVG: class probabilities (columns class, probability), highest first."""
    rows = df.sort_values("probability", ascending=False, kind="stable")
    return bars_svg([str(c) for c in rows["class"]], rows["probability"].to_numpy(float),
                    ["probability"] * len(rows), [EXCITE] * len(rows), title=title, x_title="probability",
                    domain=(0.0, 1.0), percent=True, step=20)


def bars_svg(labels: list[str], values, kinds: list[str], colours: list[str], *, title: str, x_title: str,
             legend: tuple[tuple[str, str], ...] = (), fmt: str = ".3f", label_w: int = 118, step: int = 16,
             domain: tuple[float, float] | None = None, percent: bool = False, tip_labels: list[str] | None = None,
             group: int = 1) -> str:
    """Horizontal bars from zero, one row per label in the given order, a shared x axis, an optional legend.
    ``kinds`` name each bar (its ``data-bar``) and go in its hover text beside the value (``tip_labels``: the names
    in the hover text, default ``labels``). ``domain`` fixes the axis; ``percent`` writes values and ticks as %;
    ``group`` rows form one labelled group (a gap after each; its label is centred on the group)."""
    right, top = 16, TITLE_H + 6
    if domain is not None:
        lo, hi = domain
    else:
        lo, hi = (min(0.0, float(min(values))), max(0.0, float(max(values)))) if len(values) else (0.0, 1.0)
    xt = nice_ticks(lo, hi, 5 if percent else 6)
    lo, hi = min(lo, xt[0]), max(hi, xt[-1])
    gap = 6 if group > 1 else 0
    n_groups = -(-len(labels) // group)
    plot_bottom = top + step * len(labels) + gap * n_groups
    tip_labels = tip_labels or labels
    show = (lambda v: f"{v:.1%}") if percent else (lambda v: f"{v:{fmt}}")

    def sx(v: float) -> float:
        return label_w + (v - lo) / (hi - lo or 1.0) * (WIDTH - label_w - right)

    body = [f'<line x1="{sx(t):.1f}" x2="{sx(t):.1f}" y1="{top}" y2="{plot_bottom}" stroke="{GRID}"/>' for t in xt]
    for i, (label, value, kind, colour) in enumerate(zip(labels, values, kinds, colours)):
        y, value = top + i * step + gap * (i // group), float(value)
        xa, xb = sorted((sx(0.0), sx(value)))
        if label:
            shown = label if len(label) <= 20 else label[:19] + "…"
            y_label = y + step * group / 2 + 4
            body.append(f'<text x="{label_w - 6}" y="{y_label:.1f}" text-anchor="end" {FONT} '
                        f'fill="currentColor">{escape(shown)}</text>')
        tip = f"{tip_labels[i]}: {show(value)}" + (f" ({kind})" if legend else "")
        body.append(f'<rect data-bar="{escape(kind)}" data-label="{escape(tip_labels[i])}" data-value="{value:.9g}" '
                    f'x="{xa:.2f}" y="{y + 1:.1f}" width="{max(0.8, xb - xa):.2f}" height="{step - 2}" '
                    f'fill="{colour}"><title>{escape(tip)}</title></rect>')
    ticks_shown = [f"{t:.0%}" for t in xt] if percent else None
    body.append(_x_axis(xt, sx, plot_bottom, label_w, WIDTH - right, x_title, None, ticks_shown))
    height = plot_bottom + 40
    if legend:
        legend_y = plot_bottom + 52
        for j, (name, colour) in enumerate(legend):
            x = label_w + j * 80
            body.append(f'<rect x="{x}" y="{legend_y - 9}" width="10" height="10" fill="{colour}"/>'
                        f'<text x="{x + 14}" y="{legend_y}" {FONT} fill="currentColor">{escape(name)}</text>')
        height = legend_y + 8
    return _svg(height, title, "".join(body), title)


def sparse_code_svg(df: pd.DataFrame, *, concept: str = "") -> str:
    """``core.charts.sparse_code_chart`` as SVG: a concept's sparse neuron code, one bar per unit in the given order
    (largest term first), its weight relative to the largest on a 0-1 axis.

    Args:
        df: ``concepts.SparseCode.table``: unit, weight, relative, cosine.
    """
    return bars_svg([f"unit {int(u)}" for u in df["unit"]], df["relative"].to_numpy(float), ["relative"] * len(df),
                    [EXCITE] * len(df), title=f"Sparse code of '{concept}'" if concept else "Sparse code",
                    x_title="weight (relative to the largest)", domain=(0.0, 1.0), fmt=".2f", step=22)


# ---------------------------------------------------------------- conditional probability -----------------------------
PALETTE = ("#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#eeca3b", "#b279a2", "#ff9da6", "#9d755d",
           "#bab0ac")  # Vega's "tableau10", the Altair chart's default colours


def category_colours(labels) -> dict[str, str]:
    """A colour per category (sorted names, the palette cycled), the same in both conditional-probability charts."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(sorted({str(x) for x in labels}))}


def condprob_svg(df: pd.DataFrame, *, selected: int | None = None,
                 title: str = "Category fractions per activation bucket") -> str:
    """``core.charts.conditional_probability_chart`` as SVG: each bucket a column of stacked category fractions on
    the activation axis. Every rectangle carries its bucket as ``data-unit``, so a click on it picks the bucket
    (``ui.html_block``'s ``on_open``); the ``selected`` bucket is drawn solid, the others faded.

    Args:
        df: ``condprob.category_fractions`` output: bucket, left, right, label, count, n, fraction, y0, y1.
    """
    colours = category_colours(df["label"])
    legend_w, left, top, plot_h = 92, 40, TITLE_H + 6, 220
    plot_right = WIDTH - legend_w - 8
    x0, x1 = (float(df["left"].min()), float(df["right"].max())) if len(df) else (0.0, 1.0)
    xt = nice_ticks(x0, x1)
    x0, x1 = min(x0, xt[0]), max(x1, xt[-1])
    bottom = top + plot_h

    def sx(v: float) -> float:
        return left + (v - x0) / (x1 - x0 or 1.0) * (plot_right - left)

    def sy(v: float) -> float:
        return bottom - v * plot_h

    body = []
    for t in (0, 0.2, 0.4, 0.6, 0.8, 1.0):
        body.append(f'<line x1="{left}" x2="{plot_right}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" stroke="{GRID}"/>'
                    f'<text x="{left - 5}" y="{sy(t) + 4:.1f}" text-anchor="end" {FONT} fill="{MUTED}">{t:.0%}</text>')
    body.append(f'<text transform="translate(9 {top + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle" {FONT} '
                f'fill="{MUTED}">fraction of the bucket</text>')
    body.append(_x_axis(xt, sx, bottom, left, plot_right, "activation (std-devs from zero)", None))
    for r in df[df["fraction"] > 0].itertuples(index=False):
        xa, xb = sx(float(r.left)), sx(float(r.right))
        ya, yb = sy(float(r.y1)), sy(float(r.y0))
        faded = selected is not None and int(r.bucket) != int(selected)
        tip = (f"{r.label}: {float(r.fraction):.0%} ({int(r.count)} of {int(r.n)} images), bucket {int(r.bucket)}: "
               f"{float(r.left):+.2f} to {float(r.right):+.2f} std")
        body.append(f'<rect data-unit="{int(r.bucket)}" data-bar="{escape(str(r.label))}" '
                    f'data-value="{float(r.fraction):.9g}" x="{xa:.2f}" y="{ya:.2f}" width="{max(0.8, xb - xa):.2f}" '
                    f'height="{max(0.0, yb - ya):.2f}" fill="{colours[str(r.label)]}" stroke="white" '
                    f'stroke-width="0.5" fill-opacity="{0.45 if faded else 1.0}" style="cursor:pointer">'
                    f'<title>{escape(tip)}</title></rect>')
    body.append(f'<text x="{plot_right + 12}" y="{top + 4}" {FONT} font-weight="600" fill="currentColor">category'
                '</text>')
    for i, (name, colour) in enumerate(colours.items()):
        y = top + 18 + i * 15
        shown = name if len(name) <= 13 else name[:12] + "…"
        body.append(f'<rect x="{plot_right + 12}" y="{y - 8}" width="9" height="9" fill="{colour}"/>'
                    f'<text x="{plot_right + 25}" y="{y}" {FONT} fill="currentColor">{escape(shown)}'
                    f'<title>{escape(name)}</title></text>')
    height = max(bottom + 40, top + 24 + 15 * len(colours))
    return _svg(height, title, "".join(body), title)


def category_boxes_svg(df: pd.DataFrame, *, title: str = "Activation distribution per category") -> str:
    """``core.charts.category_distribution_chart`` as SVG: per category (rows in the frame's order) a whisker from
    min to max, a box from q1 to q3 and a tick at the median.

    Args:
        df: ``condprob.category_boxes`` output: label, n, min, q1, median, q3, max.
    """
    label_w, right, top, step = 96, 16, TITLE_H + 6, 26
    lo, hi = (float(df["min"].min()), float(df["max"].max())) if len(df) else (0.0, 1.0)
    xt = nice_ticks(lo, hi)
    lo, hi = min(lo, xt[0]), max(hi, xt[-1])
    bottom = top + step * len(df)

    def sx(v: float) -> float:
        return label_w + (v - lo) / (hi - lo or 1.0) * (WIDTH - label_w - right)

    body = [f'<line x1="{sx(t):.1f}" x2="{sx(t):.1f}" y1="{top}" y2="{bottom}" stroke="{GRID}"/>' for t in xt]
    for i, r in enumerate(df.itertuples(index=False)):
        y = top + i * step + step / 2
        name = str(r.label)
        shown = name if len(name) <= 15 else name[:14] + "…"
        tip = (f"{name}: {int(r.n):,} images; min {float(r.min):.2f}, q1 {float(r.q1):.2f}, median "
               f"{float(r.median):.2f}, q3 {float(r.q3):.2f}, max {float(r.max):.2f}")
        xa, xb = sx(float(r.q1)), sx(float(r.q3))
        body.append(f'<g data-box="{escape(name)}"><title>{escape(tip)}</title>'
                    f'<text x="{label_w - 6}" y="{y + 4:.1f}" text-anchor="end" {FONT} fill="currentColor">'
                    f'{escape(shown)}</text>'
                    f'<line x1="{sx(float(r.min)):.2f}" x2="{sx(float(r.max)):.2f}" y1="{y:.1f}" y2="{y:.1f}" '
                    f'stroke="{EXCITE}"/>'
                    f'<rect x="{xa:.2f}" y="{y - 7:.1f}" width="{max(0.8, xb - xa):.2f}" height="14" fill="{EXCITE}"/>'
                    f'<line x1="{sx(float(r.median)):.2f}" x2="{sx(float(r.median)):.2f}" y1="{y - 7:.1f}" '
                    f'y2="{y + 7:.1f}" stroke="white" stroke-width="2"/></g>')
    body.append(_x_axis(xt, sx, bottom, label_w, WIDTH - right, "activation (std-devs from zero)", None))
    return _svg(bottom + 40, title, "".join(body), title)


# ---------------------------------------------------------------- interventions ----------------------------------------
def causal_check_svg(df: pd.DataFrame, *, title: str = "Raising the unit on a blank image") -> str:
    """``core.charts.causal_check_chart`` as SVG: one labelled point per concept, the bilinear prediction across and
    the measured logit change up, with both zero lines. Each point carries ``data-label``, ``data-x``, ``data-y``.

    Args:
        df: ``interventions.CausalResult.table``: concept, predicted, logit_change, alignment.
    """
    xs, ys = df["predicted"].to_numpy(float), df["logit_change"].to_numpy(float)
    xt = nice_ticks(min(0.0, *xs) if len(xs) else 0.0, max(0.0, *xs) if len(xs) else 1.0, 5)
    yt = nice_ticks(min(0.0, *ys) if len(ys) else 0.0, max(0.0, *ys) if len(ys) else 1.0, 5)
    left, right, top, bottom = 52, 70, TITLE_H + 8, TITLE_H + 8 + 220

    def sx(v: float) -> float:
        return left + (v - xt[0]) / (xt[-1] - xt[0] or 1.0) * (WIDTH - left - right)

    def sy(v: float) -> float:
        return bottom - (v - yt[0]) / (yt[-1] - yt[0] or 1.0) * (bottom - top)

    body = [_y_grid(yt, sy, left, WIDTH - right)]
    body.append(f'<line x1="{sx(0):.1f}" x2="{sx(0):.1f}" y1="{top}" y2="{bottom}" stroke="#999"/>'
                f'<line x1="{left}" x2="{WIDTH - right}" y1="{sy(0):.1f}" y2="{sy(0):.1f}" stroke="#999"/>')
    body.append(f'<text transform="translate(12,{(top + bottom) / 2:.0f}) rotate(-90)" text-anchor="middle" {FONT} '
                f'fill="{MUTED}">measured logit change</text>')
    for name, x, y in zip(df["concept"], xs, ys):
        tip = f"{name}: predicted {x:+.3f}, measured {y:+.3f}"
        body.append(f'<circle data-label="{escape(str(name))}" data-x="{x:.9g}" data-y="{y:.9g}" cx="{sx(x):.1f}" '
                    f'cy="{sy(y):.1f}" r="4.5" fill="{EXCITE}"><title>{escape(tip)}</title></circle>'
                    f'<text x="{sx(x) + 7:.1f}" y="{sy(y) + 4:.1f}" {FONT} fill="currentColor">{escape(str(name))}'
                    '</text>')
    body.append(_x_axis(xt, sx, bottom, left, WIDTH - right, "predicted change of <image, text> (delta * w_u . t)",
                        None))
    return _svg(bottom + 40, title, "".join(body), title)

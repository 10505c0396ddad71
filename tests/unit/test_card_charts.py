"""Chart specs of the neuron-card and search builders (core/charts.py)."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from core import charts
from core.analyses import neuron_card as nc


def _fields(spec):
    out = {}
    for layer in spec.get("layer", [spec]):
        for ch, enc in layer.get("encoding", {}).items():
            if isinstance(enc, dict):
                out.setdefault(ch, set()).add(enc.get("field"))
    return out


def test_histogram_chart_spec():
    df = nc.activation_histogram(np.random.default_rng(0).normal(size=300), bins=12)
    spec = charts.activation_histogram_chart(df, marker_z=1.5).to_dict()
    enc = _fields(spec)
    assert "lo_z" in enc["x"] and "count" in enc["y"] and "hi_z" in enc["x2"]
    rules = [layer["encoding"]["x"]["datum"] for layer in spec["layer"] if "datum" in layer["encoding"]["x"]]
    assert rules == [0.0, 1.5]  # zero line and the marker, data-free
    rows = next(iter(spec["datasets"].values()))
    assert len(rows) == len(df)
    assert spec["layer"][0]["transform"] == [{"filter": "datum.count > 0"}]  # empty bins are not drawn


def test_scores_chart_keeps_rank_order():
    df = pd.DataFrame({"unit": [7, 2, 9], "score": [0.9, 0.5, 0.1]})
    spec = charts.neuron_scores_chart(df).to_dict()
    assert spec["encoding"]["y"]["field"] == "neuron" and spec["encoding"]["y"]["sort"] is None
    assert spec["encoding"]["x"]["field"] == "score"


def test_labels_chart_colours_sides():
    df = nc.zero_shot_labels(np.ones(3), np.eye(3), ["a", "b", "c"], top=1)
    spec = charts.zero_shot_labels_chart(df).to_dict()
    assert spec["encoding"]["color"]["field"] == "side"
    assert spec["encoding"]["color"]["scale"]["domain"] == ["excites", "inhibits"]
    assert spec["encoding"]["y"]["sort"] == {"field": "rank", "op": "min"}


def test_to_spec_is_the_spec_streamlit_draws_for_the_altair_chart():
    """``charts.to_spec`` (what ``ui.altair`` caches) against Streamlit's own conversion in ``st.altair_chart``:
    the same spec apart from the names of the inline datasets, which both keep."""
    import json

    from streamlit.elements.vega_charts import _convert_altair_to_vega_lite_spec

    probs = pd.DataFrame({"class": ["cat", "dog", "car"], "before": [0.7, 0.2, 0.1], "after": [0.1, 0.2, 0.7]})
    deltas = pd.DataFrame({"unit": [3, 9, 1], "delta": [0.5, -0.2, 0.1]})
    for chart in (charts.class_probs_chart(probs), charts.neuron_delta_chart(deltas, title="at layer4"),
                  charts.activation_histogram_chart(nc.activation_histogram(np.arange(40.0), bins=4))):
        ours, theirs = charts.to_spec(chart), _convert_altair_to_vega_lite_spec(chart)
        names = {name: f"d{i}" for i, name in enumerate([*ours.pop("datasets"), *theirs.pop("datasets")])}
        norm = lambda spec: json.loads(re.sub("|".join(map(re.escape, names)), "DATA", json.dumps(spec)))
        assert norm(ours) == norm(theirs)
        assert "config" not in ours or "continuousWidth" not in ours["config"].get("view", {})


# ---------------------------------------------------------------- the card's SVG charts (core.svg_charts)

def _svg(markup: str):
    import xml.etree.ElementTree as ET

    return ET.fromstring(markup)  # well-formed XML, or this raises


def _bars(root):
    ns = "{http://www.w3.org/2000/svg}"
    return [r for r in root.iter(f"{ns}rect") if r.get("data-bar")]


def test_histogram_svg_draws_every_non_empty_bin_to_scale():
    from core import svg_charts

    values = np.random.default_rng(0).normal(size=500)
    df = nc.activation_histogram(values, bins=20)
    root = _svg(svg_charts.histogram_svg(df, marker_z=1.5))
    bars = _bars(root)
    shown = df[df["count"] > 0]
    assert len(bars) == len(shown)  # empty bins are not drawn, as in the Vega-Lite chart
    heights = np.array([float(b.get("height")) for b in bars])
    assert np.allclose(heights / heights.max(), shown["count"].to_numpy() / shown["count"].max(), atol=1e-3)
    xs = [float(b.get("x")) for b in bars]
    assert xs == sorted(xs)  # bins left to right
    ns = "{http://www.w3.org/2000/svg}"
    titles = [b.find(f"{ns}title").text for b in bars]
    r = shown.iloc[0]
    assert titles[0] == f"raw from {r.lo:.2f} to {r.hi:.2f}: {int(r['count']):,} images"
    lines = {k: ln for ln in root.iter(f"{ns}line") for k in ("data-zero", "data-marker") if ln.get(k)}
    assert set(lines) == {"data-zero", "data-marker"}
    assert float(lines["data-zero"].get("x1")) < float(lines["data-marker"].get("x1"))  # 0 left of +1.5
    texts = " ".join(t.text or "" for t in root.iter(f"{ns}text"))
    assert "Activation histogram over the collection" in texts and "activation (std-devs from zero)" in texts


def test_histogram_zero_line_sits_at_zero_on_the_axis():
    from core import svg_charts

    df = nc.activation_histogram(np.linspace(1.0, 5.0, 100), bins=8)  # all positive: 0 is added to the axis
    root = _svg(svg_charts.histogram_svg(df))
    ns = "{http://www.w3.org/2000/svg}"
    zero = next(float(ln.get("x1")) for ln in root.iter(f"{ns}line") if ln.get("data-zero"))
    first_bar = min(float(b.get("x")) for b in _bars(root))
    assert zero < first_bar


def test_labels_svg_orders_colours_and_escapes_phrases():
    from core import svg_charts
    from core.charts import EXCITE, INHIBIT

    df = pd.DataFrame({"rank": [1, 2, 3], "phrase": ["<script>alert(1)</script>", "a very long phrase indeed, "
                                                    "longer than twenty", "dog"],
                       "score": [0.5, 0.2, -0.4], "side": ["excites", "excites", "inhibits"]})
    markup = svg_charts.zero_shot_labels_svg(df)
    assert "<script>" not in markup and "&lt;script&gt;" in markup
    root = _svg(markup)
    bars = _bars(root)
    assert [b.get("data-bar") for b in bars] == ["excites", "excites", "inhibits"]
    assert [b.get("fill") for b in bars] == [EXCITE, EXCITE, INHIBIT]
    widths = [float(b.get("width")) for b in bars]
    assert widths[0] > widths[2] > widths[1]  # |0.5| > |-0.4| > |0.2|
    ys = [float(b.get("y")) for b in bars]
    assert ys == sorted(ys)  # rank order, top down
    ns = "{http://www.w3.org/2000/svg}"
    assert any((t.text or "").endswith("…") for t in root.iter(f"{ns}text"))  # a long phrase is cut on the axis
    assert bars[1].find(f"{ns}title").text.startswith("a very long phrase indeed, longer than twenty")  # not in the tip


def test_nice_ticks():
    from core.svg_charts import nice_ticks

    assert nice_ticks(-0.6, 0.6, 6) == [-0.6, -0.4, -0.2, 0.0, 0.2, 0.4, 0.6]
    assert nice_ticks(0, 2579, 3) == [0, 1000, 2000, 3000]
    ticks = nice_ticks(-3.1, 4.2)
    assert ticks[0] <= -3.1 and ticks[-1] >= 4.2 and len(set(np.diff(ticks).round(9))) == 1


def test_attack_page_svg_charts_carry_the_numbers_they_draw():
    import re

    from core import svg_charts

    probs = pd.DataFrame({"class": [f"c{i}" for i in range(12)], "before": np.linspace(0.3, 0.0, 12),
                          "after": np.linspace(0.0, 0.5, 12)})
    probs["change"] = probs["after"] - probs["before"]
    markup = svg_charts.class_probs_svg(probs, top=5)
    root = _svg(markup)
    bars = _bars(root)
    assert len(bars) == 10 and [b.get("data-bar") for b in bars[:2]] == ["before", "after"]  # pairs, top 5 classes
    kept = probs.assign(peak=probs[["before", "after"]].max(axis=1)).nlargest(5, "peak")
    assert [b.get("data-label") for b in bars[::2]] == list(kept["class"])
    assert np.allclose([float(b.get("data-value")) for b in bars[1::2]], kept["after"])
    assert ">100%<" in markup and ">0%<" in markup  # a fixed 0-100 % axis
    widths = [float(b.get("width")) for b in bars]
    full = max(widths) / max(float(b.get("data-value")) for b in bars)  # px per unit of probability
    assert all(abs(w - float(b.get("data-value")) * full) < 1.0 for w, b in zip(widths, bars))

    deltas = pd.DataFrame({"unit": [3, 9, 1, 4], "delta": [-0.5, 1.2, 0.3, -1.0]})
    bars = _bars(_svg(svg_charts.neuron_delta_svg(deltas)))
    assert [b.get("data-label") for b in bars] == ["unit 9", "unit 1", "unit 3", "unit 4"]  # largest first
    assert [b.get("data-bar") for b in bars] == ["rose", "rose", "fell", "fell"]

    stroop = pd.DataFrame({"class": ["red", "green", "blue"], "probability": [0.1, 0.7, 0.2]})
    markup = svg_charts.probs_svg(stroop, title="“a word written in …”")
    assert [b.get("data-label") for b in _bars(_svg(markup))] == ["green", "blue", "red"]
    assert re.search(r"green: 70\.0%", markup)


def test_condprob_svg_stacks_fractions_and_marks_the_picked_bucket():
    from core import svg_charts
    from core.analyses import condprob

    rng = np.random.default_rng(1)
    values = rng.normal(size=400)
    labels = rng.choice(["cat", "dog", "boat & <b>"], 400)
    sample = condprob.sample_buckets(values, labels, buckets=6, per_bucket=40, seed=0)
    frac = condprob.category_fractions(sample)
    markup = svg_charts.condprob_svg(frac, selected=3)
    assert "<b>" not in markup and "boat &amp; &lt;b&gt;" in markup
    root = _svg(markup)
    ns = "{http://www.w3.org/2000/svg}"
    rects = [r for r in root.iter(f"{ns}rect") if r.get("data-unit")]
    assert len(rects) == int((frac["fraction"] > 0).sum())
    for bucket, group in frac[frac["fraction"] > 0].groupby("bucket"):
        mine = [r for r in rects if int(r.get("data-unit")) == bucket]
        heights = sum(float(r.get("height")) for r in mine)
        assert abs(heights - 220) < 0.05 * len(mine) + 0.5  # each non-empty bucket's column fills the plot
        assert {r.get("fill-opacity") for r in mine} == {"1.0" if bucket == 3 else "0.45"}
    colours = svg_charts.category_colours(frac["label"])
    assert all(r.get("fill") == colours[r.get("data-bar")] for r in rects)


def test_category_boxes_svg_draws_the_quartiles():
    from core import svg_charts
    from core.analyses import condprob

    x = np.concatenate([np.arange(11.0), np.arange(5.0) + 20])
    dist = pd.DataFrame({"row": range(16), "label": ["a"] * 11 + ["b"] * 5, "value": x, "x": x})
    boxes = condprob.category_boxes(dist)
    root = _svg(svg_charts.category_boxes_svg(boxes))
    ns = "{http://www.w3.org/2000/svg}"
    groups = [g for g in root.iter(f"{ns}g") if g.get("data-box")]
    assert [g.get("data-box") for g in groups] == list(boxes["label"]) == ["b", "a"]  # by median, highest first
    a = next(g for g in groups if g.get("data-box") == "a")
    assert "q1 2.50, median 5.00, q3 7.50" in a.find(f"{ns}title").text
    box = a.find(f"{ns}rect")
    whisker = a.findall(f"{ns}line")[0]
    span = float(whisker.get("x2")) - float(whisker.get("x1"))  # min 0 .. max 10
    assert abs(float(box.get("width")) / span - 0.5) < 0.01  # q1..q3 is half of min..max

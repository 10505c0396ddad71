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


def test_spec_template_strips_data_and_keeps_encodings():
    df = nc.activation_histogram(np.arange(50.0), bins=5)
    full = charts.activation_histogram_chart(df).to_dict()
    tpl = charts.spec_template(charts.activation_histogram_chart(df))
    assert "datasets" not in tpl and "data" not in tpl and all("data" not in layer for layer in tpl["layer"])
    assert tpl["layer"] == full["layer"] and tpl["title"] == full["title"]


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

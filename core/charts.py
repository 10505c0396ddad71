"""Altair chart builders: DataFrame in, ``alt.Chart`` out (``<thing>_chart``); no streamlit calls.

Specs are inspectable (``chart.to_dict()``), which is what the unit tests check. Pages render
them with ``st.altair_chart(chart, width="stretch")``.
"""
from __future__ import annotations

import logging

import altair as alt
import pandas as pd

logger = logging.getLogger(__name__)

EXCITE = "#e4572e"
INHIBIT = "#2e86ab"


def activation_histogram_chart(df: pd.DataFrame, *, marker_z: float | None = None) -> alt.Chart:
    """Histogram of one neuron's activations over a collection, x in std-devs from zero.

    Args:
        df: ``neuron_card.activation_histogram`` output: columns lo, hi, count, lo_z, hi_z.
        marker_z: optional x position (std-devs) to mark with a rule, e.g. a query image's value.
    """
    base = alt.Chart(df).mark_bar(color=EXCITE, opacity=0.85).encode(
        x=alt.X("lo_z:Q", title="activation (std-devs from zero)"),
        x2="hi_z:Q",
        y=alt.Y("count:Q", title="images", scale=alt.Scale(type="symlog")),
        tooltip=[alt.Tooltip("lo:Q", format=".2f", title="from"), alt.Tooltip("hi:Q", format=".2f", title="to"),
                 alt.Tooltip("count:Q", title="images")],
    )
    zero = alt.Chart(pd.DataFrame({"z": [0.0]})).mark_rule(color="#555", strokeDash=[4, 3]).encode(x="z:Q")
    layers = [base, zero]
    if marker_z is not None:
        layers.append(alt.Chart(pd.DataFrame({"z": [float(marker_z)]})).mark_rule(color=INHIBIT, size=2)
                      .encode(x="z:Q"))
    return alt.layer(*layers).properties(height=180, title="Activation histogram over the collection")


def neuron_scores_chart(df: pd.DataFrame, *, score: str = "score", title: str = "Matching neurons") -> alt.Chart:
    """Horizontal bars of ranked neurons (``unit`` vs ``score``), best at the top."""
    data = df.assign(neuron=df["unit"].astype(int).astype(str))
    return alt.Chart(data).mark_bar(color=EXCITE).encode(
        y=alt.Y("neuron:N", sort=None, title="unit"),
        x=alt.X(f"{score}:Q", title=score),
        tooltip=["neuron:N", alt.Tooltip(f"{score}:Q", format=".3f")],
    ).properties(height=max(80, 22 * len(data)), title=title)


def zero_shot_labels_chart(df: pd.DataFrame) -> alt.Chart:
    """Diverging bars of the phrases that excite / inhibit a neuron's direction most.

    Args:
        df: ``neuron_card.zero_shot_labels`` output: columns phrase, score, side.
    """
    return alt.Chart(df).mark_bar().encode(
        y=alt.Y("phrase:N", sort=None, title=None),
        x=alt.X("score:Q", title="cosine with the neuron's direction"),
        color=alt.Color("side:N", scale=alt.Scale(domain=["excites", "inhibits"], range=[EXCITE, INHIBIT]),
                        legend=alt.Legend(orient="bottom", title=None)),
        tooltip=["phrase:N", alt.Tooltip("score:Q", format=".3f"), "side:N"],
    ).properties(height=max(80, 18 * len(df)), title="Zero-shot labels")

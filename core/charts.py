"""Altair chart builders: DataFrame in, ``alt.Chart`` out (``<thing>_chart``); no streamlit calls.

Specs are inspectable (``chart.to_dict()``), which is what the unit tests check. Pages render them through
``ui.altair`` (the spec cached per input). The pages a visitor opens first (neuron lookup, search, conditional
probability, typographic attacks) draw the same charts as inline SVG instead (``core.svg_charts``), so that their
first load fetches no chart library; the builders here serve the other views and define what those SVGs mirror.
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
    base = alt.Chart().transform_filter("datum.count > 0").mark_bar(color=EXCITE, opacity=0.85).encode(
        x=alt.X("lo_z:Q", title="activation (std-devs from zero)"),
        x2="hi_z:Q",
        y=alt.Y("count:Q", title="images"),
        y2=alt.datum(0),  # with x and x2 given, a bar without y2 would be a horizontal tick
        tooltip=[alt.Tooltip("lo:Q", format=".2f", title="raw from"), alt.Tooltip("hi:Q", format=".2f", title="raw to"),
                 alt.Tooltip("count:Q", title="images")],
    )
    zero = alt.Chart().mark_rule(color="#555", strokeDash=[4, 3]).encode(x=alt.datum(0.0))
    layers = [base, zero]
    if marker_z is not None:
        layers.append(alt.Chart().mark_rule(color=INHIBIT, size=2).encode(x=alt.datum(float(marker_z))))
    return alt.layer(*layers, data=df).properties(
        height=180, title="Activation histogram over the collection")


def neuron_scores_chart(df: pd.DataFrame, *, score: str = "score", title: str = "Matching neurons") -> alt.Chart:
    """Horizontal bars of ranked neurons (``unit`` vs ``score``), best at the top."""
    data = df.assign(neuron=df["unit"].astype(int).astype(str))
    return alt.Chart(data).mark_bar(color=EXCITE).encode(
        y=alt.Y("neuron:N", sort=None, title="unit"),
        x=alt.X(f"{score}:Q", title=score),
        tooltip=["neuron:N", alt.Tooltip(f"{score}:Q", format=".3f")],
    ).properties(height=alt.Step(20), title=title)


def zero_shot_labels_chart(df: pd.DataFrame) -> alt.Chart:
    """Diverging bars of the phrases that excite / inhibit a neuron's direction most.

    Args:
        df: ``neuron_card.zero_shot_labels`` output: columns rank, phrase, score, side (drawn in rank order).
    """
    return alt.Chart(df).mark_bar().encode(
        y=alt.Y("phrase:N", sort=alt.EncodingSortField("rank", op="min"), title=None),
        x=alt.X("score:Q", title="cosine with the neuron's direction"),
        color=alt.Color("side:N", scale=alt.Scale(domain=["excites", "inhibits"], range=[EXCITE, INHIBIT]),
                        legend=alt.Legend(orient="bottom", title=None)),
        tooltip=["phrase:N", alt.Tooltip("score:Q", format=".3f"), "side:N"],
    ).properties(height=alt.Step(16), title="Zero-shot labels")


# ---------------------------------------------------------------- conditional probability, attacks, Stroop ------------
BUCKET_SELECTION = "bucket_pick"


def conditional_probability_chart(df: pd.DataFrame) -> alt.Chart:
    """Stacked fraction of each category per activation bucket (the article's conditional-probability plot).

    Args:
        df: ``condprob.category_fractions`` output: bucket, left, right, label, count, n, fraction, y0, y1.

    The chart carries a point selection named ``BUCKET_SELECTION`` on ``bucket``: clicking a bar
    selects its bucket (``st.altair_chart(..., on_select="rerun")``).
    """
    pick = alt.selection_point(name=BUCKET_SELECTION, fields=["bucket"], on="click")
    return alt.Chart(df).mark_rect(stroke="white", strokeWidth=0.5).encode(
        x=alt.X("left:Q", title="activation (std-devs from zero)"),
        x2="right:Q",
        y=alt.Y("y0:Q", title="fraction of the bucket", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
        y2="y1:Q",
        color=alt.Color("label:N", title="category", legend=alt.Legend(orient="right")),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.45)),
        tooltip=[alt.Tooltip("label:N", title="category"), alt.Tooltip("fraction:Q", format=".0%"),
                 alt.Tooltip("count:Q", title="images"), alt.Tooltip("n:Q", title="in bucket"),
                 alt.Tooltip("left:Q", format=".2f", title="from (std)"),
                 alt.Tooltip("right:Q", format=".2f", title="to (std)"), "bucket:O"],
    ).add_params(pick).properties(height=320, title="Category fractions per activation bucket")


def category_distribution_chart(df: pd.DataFrame) -> alt.Chart:
    """The reverse view: each category's activation distribution (box plot, std-devs from zero).

    Args:
        df: ``condprob.category_boxes`` output, one row per category: label, n, min, q1, median, q3, max. The
            boxes are drawn from these statistics, so the chart holds one row per category at any collection size.
    """
    y = alt.Y("label:N", sort=df["label"].tolist(), title=None)
    tip = [alt.Tooltip("label:N", title="category"), alt.Tooltip("n:Q", title="images", format=","),
           *(alt.Tooltip(f"{c}:Q", format=".2f") for c in ("min", "q1", "median", "q3", "max"))]
    base = alt.Chart(df).encode(y=y, tooltip=tip)
    whisker = base.mark_rule(color=EXCITE).encode(x=alt.X("min:Q", title="activation (std-devs from zero)"),
                                                  x2="max:Q")
    box = base.mark_bar(color=EXCITE, size=14).encode(x="q1:Q", x2="q3:Q")
    median = base.mark_tick(color="white", size=14, thickness=2).encode(x="median:Q")
    return alt.layer(whisker, box, median).properties(height=alt.Step(26),
                                                      title="Activation distribution per category")


def class_probs_chart(df: pd.DataFrame, *, top: int = 10) -> alt.Chart:
    """Zero-shot class probabilities before and after an attack (grouped bars, top classes).

    Args:
        df: ``AttackResult.probs``: class, before, after, change.
        top: show the classes with the highest probability before or after.
    """
    keep = df.assign(peak=df[["before", "after"]].max(axis=1)).nlargest(top, "peak")
    long = keep.melt(id_vars=["class"], value_vars=["before", "after"], var_name="image", value_name="probability")
    return alt.Chart(long).mark_bar().encode(
        y=alt.Y("class:N", sort=keep["class"].tolist(), title=None),
        yOffset=alt.YOffset("image:N", sort=["before", "after"]),
        x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
        color=alt.Color("image:N", sort=["before", "after"], scale=alt.Scale(range=[INHIBIT, EXCITE]),
                        legend=alt.Legend(orient="bottom", title=None)),
        tooltip=["class:N", "image:N", alt.Tooltip("probability:Q", format=".1%")],
    ).properties(height=alt.Step(22), title="Zero-shot class probabilities")


def neuron_delta_chart(df: pd.DataFrame, *, value: str = "delta", title: str = "Neurons that rose and fell most"
                       ) -> alt.Chart:
    """Diverging bars of per-neuron activation change (risers red, fallers blue).

    Args:
        df: columns unit and ``value`` (e.g. risers and fallers of ``attacks.risers_fallers``, concatenated).
    """
    data = df.assign(neuron=df["unit"].astype(int).astype(str), side=(df[value] >= 0).map({True: "rose",
                                                                                            False: "fell"}))
    return alt.Chart(data).mark_bar().encode(
        y=alt.Y("neuron:N", sort=alt.EncodingSortField(value, order="descending"), title="unit",
                axis=alt.Axis(labelOverlap=False)),
        x=alt.X(f"{value}:Q", title="activation change"),
        color=alt.Color("side:N", scale=alt.Scale(domain=["rose", "fell"], range=[EXCITE, INHIBIT]), legend=None),
        tooltip=["neuron:N", alt.Tooltip(f"{value}:Q", format="+.3f")],
    ).properties(height=alt.Step(18), title=title)


def attack_rates_chart(df: pd.DataFrame) -> alt.Chart:
    """Attack success per word and style, with the any-flip rate and the chance level as ticks.

    Args:
        df: ``AttackEval.table``: word, target, style, n, success, any_flip, chance, cover.
    """
    data = df.dropna(subset=["success"])
    bars = alt.Chart(data).mark_bar(color=EXCITE).encode(
        y=alt.Y("word:N", title="attack word"), yOffset="style:N",
        x=alt.X("success:Q", title="success (top-1 becomes the written class)", scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%")),
        opacity=alt.Opacity("style:N", legend=alt.Legend(orient="bottom")),
        tooltip=["word:N", "target:N", "style:N", "n:Q", alt.Tooltip("success:Q", format=".1%"),
                 alt.Tooltip("any_flip:Q", format=".1%"), alt.Tooltip("chance:Q", format=".1%"),
                 alt.Tooltip("cover:Q", format=".1%", title="pixel cover")],
    )
    chance = alt.Chart(data).mark_tick(color="#222", thickness=2).encode(y="word:N", yOffset="style:N", x="chance:Q")
    return alt.layer(bars, chance).properties(height=alt.Step(30), title="Attack success (black tick: chance)")


def stroop_chart(df: pd.DataFrame) -> alt.Chart:
    """Word x ink grid coloured by who won (word, ink, both, other).

    Args:
        df: ``stroop.score_trials`` output: word, ink, kind, pred, p_word, p_ink, winner.
    """
    return alt.Chart(df).mark_rect(stroke="white").encode(
        x=alt.X("ink:N", title="ink colour"), y=alt.Y("word:N", title="written word"),
        color=alt.Color("winner:N", scale=alt.Scale(domain=["word", "ink", "both", "other"],
                                                    range=[EXCITE, INHIBIT, "#6a994e", "#bbbbbb"])),
        tooltip=["word:N", "ink:N", "pred:N", alt.Tooltip("p_word:Q", format=".1%"),
                 alt.Tooltip("p_ink:Q", format=".1%"), "winner:N"],
    ).properties(title="Stroop: who wins, the word or the ink?")


def probs_chart(df: pd.DataFrame, *, title: str = "Zero-shot probabilities") -> alt.Chart:
    """Horizontal bars of class probabilities (columns class, probability), highest first."""
    return alt.Chart(df).mark_bar(color=EXCITE).encode(
        y=alt.Y("class:N", sort="-x", title=None),
        x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
        tooltip=["class:N", alt.Tooltip("probability:Q", format=".1%")],
    ).properties(height=alt.Step(22), title=title)


def sparse_code_chart(df: pd.DataFrame, *, concept: str = "") -> alt.Chart:
    """Bars of a concept's sparse neuron code, largest term first.

    Args:
        df: ``concepts.SparseCode.table``: unit, weight, relative, cosine.
    """
    data = df.assign(neuron=df["unit"].astype(int).astype(str))
    return alt.Chart(data).mark_bar(color=EXCITE).encode(
        y=alt.Y("neuron:N", sort=None, title="unit"),
        x=alt.X("relative:Q", title="weight (relative to the largest)", scale=alt.Scale(domain=[0, 1])),
        tooltip=["neuron:N", alt.Tooltip("weight:Q", format=".4f"), alt.Tooltip("relative:Q", format=".2f"),
                 alt.Tooltip("cosine:Q", format=".3f", title="cosine with the concept")],
    ).properties(height=alt.Step(22), title=f"Sparse code of '{concept}'" if concept else "Sparse code")


def atlas_loadings_chart(df: pd.DataFrame, *, names: dict[str, str] | None = None) -> alt.Chart:
    """Heat map of concepts x NMF factors (colour = loading).

    Args:
        df: ``concepts.Atlas.loadings``: concept, factor, loading.
        names: optional factor -> readable name (its top concept), shown in the axis labels.
    """
    data = df.copy()
    if names:
        data["factor"] = data["factor"].map(lambda f: f"{f} ({names.get(f, '')})" if names.get(f) else f)
    return alt.Chart(data).mark_rect().encode(
        x=alt.X("factor:N", title=None, sort=None),
        y=alt.Y("concept:N", sort=data.loc[data.groupby("concept")["loading"].idxmax()]
                .sort_values(["factor", "loading"], ascending=[True, False])["concept"].tolist(), title=None,
                axis=alt.Axis(labelOverlap=False)),
        color=alt.Color("loading:Q", scale=alt.Scale(scheme="oranges"), legend=alt.Legend(orient="bottom")),
        tooltip=["concept:N", "factor:N", alt.Tooltip("loading:Q", format=".3f")],
    ).properties(height=alt.Step(20), title="Concept atlas (NMF loadings)")


def atlas_plane_chart(df: pd.DataFrame) -> alt.Chart:
    """Concepts on the plane of the first two NMF factors (the article's 2-factor valence/arousal view).

    Args:
        df: ``concepts.Atlas.loadings`` with at least factors 'factor 1' and 'factor 2'.
    """
    wide = df.pivot_table(index="concept", columns="factor", values="loading").reset_index()
    wide = wide.rename(columns={"factor 1": "f1", "factor 2": "f2"})
    base = alt.Chart(wide).encode(x=alt.X("f1:Q", title="factor 1"), y=alt.Y("f2:Q", title="factor 2"),
                                  tooltip=["concept:N", alt.Tooltip("f1:Q", format=".3f"),
                                           alt.Tooltip("f2:Q", format=".3f")])
    return alt.layer(base.mark_circle(color=EXCITE, size=60),
                     base.mark_text(align="left", dx=6, fontSize=11).encode(text="concept:N")
                     ).properties(height=320, title="Concepts on the first two factors")


def causal_check_chart(df: pd.DataFrame) -> alt.Chart:
    """Measured logit change vs the bilinear prediction per concept (causal blank-image check).

    Args:
        df: ``interventions.CausalResult.table``: concept, predicted, logit_change, ...
    """
    base = alt.Chart(df).encode(
        x=alt.X("predicted:Q", title="predicted change of <image, text> (delta * w_u . t)"),
        y=alt.Y("logit_change:Q", title="measured logit change"),
        tooltip=["concept:N", alt.Tooltip("alignment:Q", format=".3f"), alt.Tooltip("predicted:Q", format="+.3f"),
                 alt.Tooltip("logit_change:Q", format="+.3f")])
    zero = alt.Chart(pd.DataFrame({"z": [0.0]}))
    return alt.layer(zero.mark_rule(color="#999").encode(y="z:Q"), zero.mark_rule(color="#999").encode(x="z:Q"),
                     base.mark_circle(color=EXCITE, size=70),
                     base.mark_text(align="left", dx=6, fontSize=11).encode(text="concept:N")
                     ).properties(height=300, title="Raising the unit on a blank image")


def to_spec(chart: alt.TopLevelMixin) -> dict:
    """The chart's Vega-Lite spec as ``st.altair_chart`` draws it: data inline (named datasets), without the view
    size Altair's default theme adds (Streamlit renders Altair charts with the theme "none")."""
    spec = chart.to_dict()
    config = spec.get("config", {})
    view = config.get("view", {})
    for key in ("continuousWidth", "continuousHeight"):
        view.pop(key, None)
    if "view" in config and not view:
        del config["view"]
    if "config" in spec and not config:
        del spec["config"]
    return spec

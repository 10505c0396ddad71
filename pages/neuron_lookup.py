"""Neuron lookup: the neuron card (dataset examples, activation range, labels, similar neurons)."""
from __future__ import annotations

import streamlit as st

from core import resources, ui

TOP_K, BOTTOM_K, BUCKETS, PER_BUCKET, SIMILAR = 12, 6, 6, 2, 8


def feature_visualization_section(ctx: ui.Context, unit: int) -> None:
    """Feature visualizations (on demand, cached) and top/bottom rastered words."""
    with ui.section_errors():
        ui.feature_visualization_card(ctx, unit)


def dataset_section(ctx: ui.Context, unit: int) -> None:
    """Top / most negative / across-the-range dataset examples and the activation histogram."""
    if ctx.path is None:
        st.info("No collection is indexed for this model yet, so there are no dataset examples: pick or index "
                "one in the sidebar (**Index a folder**), or run `python -m core extract --help`.")
        return
    if not ctx.has_examples:
        st.info(f"Collection '{ctx.collection}' was indexed at layer `{ctx.collection_layer}`, not `{ctx.layer}`: "
                "pick that layer in the sidebar to see dataset examples, or index the collection at this layer.")
        return
    st.subheader("Top dataset examples")
    st.caption("Most-activating cell outlined; value = pre-ReLU spatial max.")
    ui.image_grid(ctx, resources.examples(*ctx.art, unit, TOP_K, False))
    ui.chart("histogram", resources.histogram(*ctx.art, unit))
    st.subheader("Most negative examples")
    ui.image_grid(ctx, resources.examples(*ctx.art, unit, BOTTOM_K, True), outline=False)
    st.subheader("Across the activation range")
    st.caption("Random samples from uniform buckets between the most inhibitory and most excitatory value; "
               "numbers are std-devs from zero.")
    ui.image_grid(ctx, resources.bucket_examples(*ctx.art, unit, BUCKETS, PER_BUCKET), caption="z")


def labels_section(ctx: ui.Context, unit: int) -> None:
    """Zero-shot labels and similar neurons (directions need no collection; correlations do)."""
    ui.chart("labels", resources.zero_shot_labels(ctx.model_id, ctx.layer, unit))
    ui.unit_pills(resources.similar_by_direction(ctx.model_id, ctx.layer, unit, SIMILAR), "cosine", "sim_dir",
                  "**Similar neurons by direction** (cosine in the joint space)", unit)
    if ctx.has_examples:
        ui.unit_pills(resources.similar_by_correlation(*ctx.art, unit, SIMILAR), "correlation", "sim_corr",
                      "**Similar neurons by activation** (correlation over the collection)", unit)


def main() -> None:
    st.title("Neuron lookup")
    st.caption("Pick a unit (number, prev/next, random) or open a shared link: the neuron card shows what "
               "excites and inhibits it.")
    ctx = ui.page_context()
    card(ctx)


@st.fragment
def card(ctx: ui.Context) -> None:
    """The unit picker and the card: a fragment, so switching neurons reruns only this part."""
    with ui.error_box():  # fragment reruns do not pass through main()'s error box
        render_card(ctx)


def render_card(ctx: ui.Context) -> None:
    problems = st.container()
    unit = ui.unit_picker(ctx)
    ui.show_url_problems(problems)
    ui.write_url(ctx.params(unit=unit))
    st.header(f"Unit {unit}", anchor=False)
    st.caption(f"`{ctx.layer}:{unit}` · {ctx.model_id}" + (f" · {ctx.collection} ({ctx.rows} images)"
                                                           if ctx.collection else ""))
    left, right = st.columns([3, 2], gap="large")
    with left:
        dataset_section(ctx, unit)
    with right, ui.section_errors():
        labels_section(ctx, unit)
        ui.share_link(ctx.params(unit=unit))
    feature_visualization_section(ctx, unit)


with ui.error_box():
    main()

"""Neuron lookup: the neuron card (dataset examples, activation range, labels, similar neurons)."""
from __future__ import annotations

import streamlit as st

import ui
from core import svg_charts
from ui import regions_view, resources
from ui.article import article_name
from ui.diversity import diversity_section
from ui.downloads import card_button
from ui.views import more_examples

SIMILAR = 8
UNITS_NOTE = ("Every number under a picture is the unit's activation (pre-ReLU spatial max) in standard deviations "
              "from zero (σ: its std over the collection), as in the histogram; hover a picture for the raw value.")
CARD = dict(top_k=12, bottom_k=6, buckets=6, per_bucket=2, similar=SIMILAR, width=110)  # ui.html.build_card's


def feature_visualization_section(ctx: ui.Context, unit: int) -> dict:
    """Feature visualizations (on demand, cached), diverse ones, and top/bottom rastered words; returns the diverse
    renders' URL parameters."""
    with ui.section_errors():
        ui.feature_visualization_card(ctx, unit)
    with ui.section_errors():
        return diversity_section(ctx, unit)
    return {}


def dataset_section(ctx: ui.Context, data) -> None:
    """Top / most negative / across-the-range dataset examples (one element)."""
    if not ui.has_examples(ctx, "dataset examples"):
        return
    st.caption(UNITS_NOTE)
    ui.grid_sections("grids", data.unit,
                     ("Top dataset examples", "Most-activating cell outlined.", data.top),
                     ("Most negative examples", "No picture of this collection drives the unit below zero: these are "
                      "its weakest responses, all positive." if data.all_positive else None, data.bottom),
                     ("Across the activation range", "Random samples from uniform buckets between the most inhibitory "
                      "and most excitatory value.", data.across))


def labels_section(ctx: ui.Context, unit: int, data) -> None:
    """The activation histogram, zero-shot labels and similar neurons (directions need no collection;
    the histogram and correlations do)."""
    if data is not None:
        ui.card_chart("histogram", unit, svg_charts.histogram_svg(data.histogram))
    ui.card_chart("labels", unit, svg_charts.zero_shot_labels_svg(resources.unit_labels(ctx.model_id, ctx.layer, unit)))
    rows = [("Similar neurons by direction", "(cosine in the joint space)",
             resources.similar_by_direction(ctx.model_id, ctx.layer, unit, SIMILAR), "cosine")]
    if data is not None:
        over = f"an evenly spaced sample of {data.similar_rows:,} images" if data.similar_sampled else "the collection"
        rows.append(("Similar neurons by activation", f"(correlation over {over})", data.similar, "correlation"))
    ui.similar_chips(unit, rows)


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
    unit = ui.unit_picker(ctx)
    ui.show_url_problems()  # under the picker: no placeholder element above it to re-render on every switch
    st.header(f"Unit {unit}", anchor=False)
    st.caption(f"{ui.md_code(f'{ctx.layer}:{unit}')} · {ui.md_escape(ctx.model_id)}"
               + (f" · {ui.md_escape(ctx.collection)} ({ctx.rows:,} images)" if ctx.collection else ""))
    with ui.section_errors():
        article_name(ctx, unit)  # the article's own name for the unit, on its model
    data = resources.neuron_card_data(ctx.artifact, unit, **CARD) if ctx.has_examples else None
    left, right = st.columns([3, 2], gap="large")
    with left:
        dataset_section(ctx, data)
    with right:
        with ui.section_errors():  # e.g. no directions at this layer: a note, and the card goes on
            labels_section(ctx, unit, data)
        link = st.container()  # filled last: the share link carries the views opened below
    params = ctx.params(unit=unit)
    with ui.section_errors():
        params |= more_examples(ctx, unit)  # 48 argmax-centred crops, on demand
    params |= feature_visualization_section(ctx, unit)
    ui.write_url(params)
    with link:
        ui.share_link({k: v for k, v in params.items() if v is not None})
        card_button(ctx, unit, data.similar if data is not None else None)
        regions_view.map_link(ctx, unit)
    with ui.section_errors():
        regions_view.elsewhere_section(ctx, unit)
    if data is not None:  # while the card is read, build the ones most likely opened next
        resources.prefetch_cards(ctx.artifact, ui.likely_next_units(unit, ctx.units - 1), **CARD)


with ui.error_box():
    main()

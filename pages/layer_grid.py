"""A layer at a glance (OpenAI Microscope's grid): every unit as a tile, paged, filtered by a text query; a tile
opens the unit's card."""
from __future__ import annotations

import streamlit as st

import ui
from core.analyses import article_units, layer_grid
from ui import article, resources, urlstate, views

SHOW = {"example": "top dataset example (crop at its most-activating cell)", "fv": "feature visualization (cached)"}
SIZE = 96


def inputs(ctx: ui.Context) -> tuple[str, str, int, int]:
    """The query, what a tile shows, units per page and the zoom of the crops (URL-bound)."""
    ui.bind_url("lg_query", "q", lambda raw: urlstate.parse_text("q", raw or "", 80))
    query = st.text_input("Filter", key="lg_query", max_chars=80, placeholder="a unit number, or words: e.g. spider",
                          help="A unit number shows that unit; words keep the units zero-shot neuron search ranks "
                               "best for them (and the article's names that contain them, on its model).")
    # drawn only when opened (a lighter first load)
    tiles = st.popover("Tiles: what they show, how many, zoom", icon=":material/tune:")
    left, mid, right = tiles.columns([3, 1, 1])
    default = "example" if ctx.has_examples else "fv"
    ui.bind_url("lg_show", "show", lambda raw: urlstate.parse_choice("show", raw, list(SHOW), default), lambda v: v in SHOW)
    show = left.radio("Tiles show", list(SHOW), format_func=SHOW.get, key="lg_show", horizontal=True)
    ui.bind_url("lg_per", "per", lambda raw: urlstate.parse_choice("per", raw, [str(p) for p in layer_grid.PER_PAGE],
                                                                   "48"), lambda v: v in ("24", "48", "96"))
    per = int(mid.selectbox("Per page", [str(p) for p in layer_grid.PER_PAGE], key="lg_per"))
    ui.bind_url("lg_zoom", "zoom", lambda raw: urlstate.parse_int("zoom", raw, 1, 4, 2),
                lambda v: isinstance(v, int) and 1 <= v <= 4)
    zoom = int(right.select_slider("Zoom", options=list(layer_grid.ZOOMS), key="lg_zoom", disabled=show == "fv",
                                   format_func=lambda z: "whole" if z == 1 else f"{z}x"))
    for key in ("lg_query", "lg_show", "lg_per", "lg_zoom"):
        ui.remember(key)
    return query, show, per, zoom


def matching_units(ctx: ui.Context, query: str, per: int, names: dict[int, str]) -> list[int]:
    text = " ".join(query.split())
    ranked = None
    if text and not (text.isascii() and text.isdigit()):
        ranked = resources.text_to_neurons(ctx.model_id, ctx.layer, text, max(per, ctx.units // 20))["unit"].tolist()
    return layer_grid.units_for_query(text, ctx.units, names=names, ranked=ranked)


def main() -> None:
    st.title("Layer grid")
    st.caption("Every unit of the layer as a tile, as in OpenAI Microscope: its top dataset example (cropped "
               "around the cell that fires most) or its feature visualization where one is rendered. Click a tile "
               "for the unit's card.")
    ctx = ui.page_context()
    ui.show_url_problems()
    if not ctx.has_examples:
        st.info("No collection is indexed at this layer, so tiles show feature visualizations only (blank until "
                "rendered on a card or with `python -m core render`).")
    match = article.model_match(ctx)
    names = ({int(u): str(n) for u, n in zip(article_units.cited_units()["unit"], article_units.cited_units()["label"])}
             if match is not None and match.layer == ctx.layer else {})
    query, show, per, zoom = inputs(ctx)
    units = matching_units(ctx, query, per, names)
    pages = layer_grid.page_count(len(units), per)
    ui.bind_url("lg_page", "page", lambda raw: urlstate.parse_int("page", raw, 1, pages, 1),
                lambda v: isinstance(v, int) and 1 <= v <= pages)
    if st.session_state.get("lg_page", 1) > pages:
        st.session_state["lg_page"] = 1
    page = int(st.number_input(f"Page (of {pages})", 1, pages, step=1, key="lg_page"))
    ui.remember("lg_page")
    ui.show_url_problems()
    shown = layer_grid.page_of(units, page, per)
    st.caption(f"{len(units):,} of {ctx.units:,} units" + (f" for '{ui.md_escape(query.strip())}'" if query.strip()
                                                          else "") + f" · page {page} of {pages}")
    if not shown:
        st.info("No unit matches; try other words or clear the filter.")
        frame = None
    else:
        frame = views.layer_tiles(ctx, shown, show=show, zoom=zoom, size=SIZE, names=names)
    params = ctx.params(q=query.strip() or None, show=show, per=per, zoom=zoom, page=page)
    ui.write_url(params)
    if frame is not None:
        st.download_button("Download this page (CSV)", frame.to_csv(index=False).encode(),
                           f"layer_grid_page{page}.csv", "text/csv", key="lg_csv", icon=":material/download:")
    ui.share_link(params)


with ui.error_box():
    main()

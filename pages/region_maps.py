"""Region maps: units' responses to country and city names and over an unlabelled world map (article §8.2)."""
from __future__ import annotations

import streamlit as st

import ui
from core.analyses.geo import ATTRIBUTION
from ui import regions_view, resources
from ui.resources import regions as cached


def pick_unit(unit: int) -> None:
    """Button callback of "Find region neurons": map this unit alone."""
    st.session_state["rm_units"] = str(int(unit))


def inputs(ctx: ui.Context) -> tuple[tuple[int, ...], bool, bool, bool]:
    """The units (URL ``units``) and which layers of the map to draw."""
    hi = ctx.units - 1
    ui.bind_url("rm_units", "units", lambda raw: _as_text(regions_view.parse_units(raw, hi)),
                lambda v: isinstance(v, str) and not regions_view.parse_units(v, hi).problem)
    text = st.text_input(f"Units (0..{hi}, up to {regions_view.MAX_UNITS}, comma-separated)", key="rm_units",
                         help="Several units share one map, coloured by the article's hue rule.")
    ui.remember("rm_units")
    parsed = regions_view.parse_units(text, hi)
    if parsed.problem:
        st.warning(parsed.problem, icon=":material/warning:")
    row = st.popover("Map layers", icon=":material/layers:")  # drawn only when opened (a lighter first load)
    countries = row.toggle("Country names", True, key="rm_countries")
    cities = row.toggle("City names", True, key="rm_cities")
    world = row.toggle("World-map activation", True, key="rm_world")
    return parsed.value, countries, cities, world


def _as_text(parsed):
    return type(parsed)(", ".join(map(str, parsed.value)), parsed.problem)


def map_section(ctx: ui.Context, units, countries: bool, cities: bool, world: bool) -> None:
    if not cached.regions_computed(ctx.model_id, ctx.layer):
        job = resources.get_job(cached.regions_job_key(ctx.model_id, ctx.layer))
        if job is not None and not job.finished.is_set():
            ui.watch_job(job, unit="names and map crops")
        st.info("This layer's responses to the 795 place names and the world map are not computed yet (once per "
                "model and layer; every unit is then instant).")
        if st.button("Compute the region responses of this layer", key="rm_compute", type="primary"):
            cached.regions_job(ctx.model_id, ctx.layer)
            st.rerun()
        return
    spec = cached.region_map_spec(ctx.model_id, ctx.layer, tuple(units), countries, cities, world)
    st.vega_lite_chart(spec, key="rm_map")
    regions_view.legend(ctx, tuple(units))
    st.caption("Countries: the unit's response to the country's name drawn as a word (spatial max, averaged over "
               "two fonts/sizes). Dots: city names. Squares: its activation over an unlabelled equirectangular world "
               "map (averaged over overlapping crops) where it is above its median over the map. Each unit has a hue; a place's colour is the value²-weighted "
               "circular mean of the hues (saturation = their agreement, lightness from the max and mean value). "
               f"{ATTRIBUTION}.")


def main() -> None:
    st.title("Region maps")
    st.caption("Where on Earth a unit looks: its response to 175 country and 620 city names and over an "
               "unlabelled world map, as one map (the article's region neurons, §8.2).")
    ctx = ui.page_context()
    problems = st.container()
    units, countries, cities, world = inputs(ctx)
    ui.show_url_problems(problems)
    params = ctx.params(units=",".join(map(str, units)))
    ui.write_url(params)
    if ctx.model_id == "demo" and ctx.collection == "demo" and ctx.has_examples:
        with st.sidebar, ui.section_errors():
            st.caption(cached.continent_preference(ctx.artifact))
    with ui.section_errors():
        map_section(ctx, units, countries, cities, world)
    ui.share_link(params)
    st.subheader("Find region neurons", anchor=False)
    with st.popover("Rank this layer's units", icon=":material/format_list_numbered:"):  # drawn only when opened
        k = int(st.number_input("Top words counted", 1, 20, 5, key="rm_k"))
        find = st.toggle("Rank this layer's units", key="rm_find")
    if find:
        with ui.section_errors():
            regions_view.find_section(ctx, k, pick_unit)


with ui.error_box():
    main()

"""The region-map page's blocks (units from the URL, the map with its legend, "Find region neurons") and the neuron
card's links to other tools: the unit's region map and "the same concept elsewhere" (its best matches in the other
artifacts of the collection)."""
from __future__ import annotations

import html
from pathlib import Path

import streamlit as st

from core.analyses import geo
from ui import urlstate, widgets
from ui.resources import regions as cached
from ui.state import Context

MAX_UNITS = 6
MAP_PAGE, LOOKUP_PAGE = "pages/region_maps.py", "pages/neuron_lookup.py"
MAP_PATH = "region_maps"


def parse_units(raw: str | None, hi: int, default: tuple[int, ...] = (0,)) -> urlstate.Parsed:
    """Up to ``MAX_UNITS`` distinct unit numbers in 0..hi from "3, 17 42"; bad parts dropped with a problem."""
    if raw is None or not str(raw).strip():
        return urlstate.Parsed(default)
    parts = str(raw)[:urlstate.MAX_PARAM_CHARS].replace(",", " ").split()
    good = list(dict.fromkeys(int(p) for p in parts
                              if p.isascii() and p.isdigit() and len(p) <= 12 and int(p) <= hi))[:MAX_UNITS]
    if len(good) == len(parts) and good:
        return urlstate.Parsed(tuple(good))
    problem = (f"Some units in '{str(raw)[:40]}' are not units 0..{hi} (or more than {MAX_UNITS}); "
               f"showing {', '.join(map(str, good or default))}.")
    return urlstate.Parsed(tuple(good) or default, problem)


def _link(page: str, path: str, label: str, params: dict, icon: str) -> None:
    """A link to another page with ``params``: inside the dashboard a page link (no reload), alone a plain link."""
    if st.session_state.get("_shell_run"):
        st.page_link(page, label=label, icon=icon, query_params={k: str(v) for k, v in params.items() if v})
    else:
        st.markdown(f"[{label}]({path}{urlstate.query_string(params)})")


def map_link(ctx: Context, unit: int) -> None:
    """The neuron card's link to the unit's region map."""
    _link(MAP_PAGE, MAP_PATH, f"Region map of unit {unit}", ctx.params(units=unit), ":material/public:")


def legend(ctx: Context, units: tuple[int, ...]) -> None:
    """Each unit's hue and the places whose names excite it most."""
    cols = st.columns(len(units))
    for i, (col, unit) in enumerate(zip(cols, units)):
        top = cached.top_regions(ctx.model_id, ctx.layer, unit, 6)
        names = ", ".join(html.escape(n) for n in top["name"])
        col.html(f'<div><span style="display:inline-block;width:12px;height:12px;border-radius:6px;'
                 f'background:{geo.hue_of(len(units), i)}"></span> <b>unit {unit}</b>'
                 f'<br><small>{names}</small></div>')


def find_section(ctx: Context, k: int, on_pick) -> None:
    """"Find region neurons": the layer's units ranked by their geographic top words; each opens its map or card."""
    from core.analyses import words
    from core.analyses.regions import summary
    from ui import resources

    loaded = resources.get_model(ctx.model_id)
    if not words.is_scored(loaded, ctx.layer):
        job = resources.get_job(resources.words_job_key(ctx.model_id, ctx.layer))
        if job is not None and not job.finished.is_set():
            widgets.watch_job(job, unit="words")
        elif st.button("Score the word vocabulary (once per model and layer)", key="rm_words"):
            resources.words_job(ctx.model_id, ctx.layer)
            st.rerun()
        return
    if not cached.regions_computed(ctx.model_id, ctx.layer):
        st.info("Compute the layer's region responses above first: the ranking also counts the place names.")
        return
    ranking = cached.region_ranking(ctx.model_id, ctx.layer, k)
    s = summary(ranking, k)
    st.caption(f"{s['all_geographic']} of {s['units']} units ({s['share']:.1%}) have all top-{k} rastered words "
               f"geographic (the article: 2.5 % of RN50x4's units). Vocabulary: the 12,000 shipped words plus the "
               "shipped country and city names; geographic = countries, cities, continents, demonyms.")
    for rec in ranking.head(10).to_dict("records"):
        row = st.container(horizontal=True, vertical_alignment="center")
        row.button(f"Map {rec['unit']}", key=f"rm_pick_{rec['unit']}", on_click=on_pick, args=(rec["unit"],))
        with row:
            _link(LOOKUP_PAGE, "lookup", "card", ctx.params(unit=rec["unit"]), ":material/person_search:")
        row.markdown(f"**{rec['geographic']}/{k}** geographic · {html.escape(rec['top_words'])}")


def elsewhere_section(ctx: Context, unit: int, top: int = 3) -> None:
    """"The same concept elsewhere": the unit's best matches in every other artifact of this collection (other
    models or layers), each with its top examples and a link to open it."""
    if not ctx.has_examples:
        return
    others = cached.other_artifacts(ctx.artifact)
    if not others:
        st.caption("The same concept elsewhere: no other model or layer has indexed this collection yet "
                   "(`python -m core index --layer ...`), so there is nothing to match against.")
        return
    st.subheader("The same concept elsewhere", anchor=False)
    st.caption("Best matches in the other artifacts of this collection: score = mean of the correlations over "
               "the shared images (spatial max and mean) and over the rastered words when both are scored.")
    for i, path in enumerate(others):
        meta, best = cached.matches_elsewhere(ctx.artifact, path, unit, top)
        st.markdown(f"**{meta['model']}** · `{meta['layer']}` ({meta['images']} images, {meta['words']} words)")
        widgets.grid_sections(f"elsewhere_{i}", unit, *[(f"unit {r}", None, cached.other_grid(path, int(r)))
                                                        for r in best["unit"]])
        for rec in best.to_dict("records"):
            words = "" if rec["r_words"] != rec["r_words"] else f", words {rec['r_words']:.2f}"
            params = {"model": meta["model"], "collection": Path(path).name, "layer": meta["layer"],
                      "unit": rec["unit"]}
            _link(LOOKUP_PAGE, "lookup", f"unit {rec['unit']}: score {rec['score']:.2f} (max {rec['r_max']:.2f}, "
                  f"mean {rec['r_mean']:.2f}{words})", params, ":material/arrow_forward:")

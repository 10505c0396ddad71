"""The neuron card's feature-visualization strip (rendered on demand in the background, cached on disk) and the
unit's top and bottom rastered words."""
from __future__ import annotations

import streamlit as st

from ui import downloads, html, resources, widgets
from ui.state import Context


def feature_visualization_card(ctx: Context, unit: int) -> None:
    """Feature visualizations (rendered on demand, then cached) and the unit's top/bottom rastered words.

    Pictures, headings and word tables are one light element each (``html_block``); the render options sit in a
    popover (mounted only when opened), so a neuron switch re-renders few elements.
    """
    from core.analyses import words
    from core.featurevis import strip
    from core.featurevis.facets import facet_names
    from core.featurevis.png import result_png
    from core.featurevis.strip import cached_strip, strip_items

    loaded = resources.get_model(ctx.model_id)
    names = facet_names()
    st.session_state.setdefault("fv_seeds", 2)
    # the text facet trains a probe on the demo corpus first: seconds on the demo model, long for a big one on a CPU
    st.session_state.setdefault("fv_facets", ["text"] if "text" in names and ctx.model_id == "demo" else [])
    seeds = min(max(int(st.session_state["fv_seeds"] or 1), 1), 4)
    facets = tuple(f for f in st.session_state["fv_facets"] if f in names)
    items = strip_items(seeds, facets)
    results = cached_strip(loaded, ctx.layer, unit, items)
    note = (f"Images optimised to excite the unit (Fourier parametrization with decorrelated colour, random "
            f"jitter/scale/rotation, {strip.strip_steps()} steps). Facets add a linear-probe prior on an earlier layer "
            "(paper §2.2): text = rendered words vs pictures, the others = demo-corpus categories.")
    figures = [(item.label, None if res is None else result_png(loaded, res), "" if res is None else str(res.objective))
               for item, res in zip(items, results)]
    widgets.html_block("fv_strip", html.tagged(unit, html.heading_html("Feature visualization", note)
                                       + html.figures_html(figures)))
    row = st.container(horizontal=True, vertical_alignment="center")
    with row.popover("Render options", icon=":material/tune:", key="fv_options",
                     help=f"Now: {seeds} seed(s); facets: {', '.join(facets) or 'none'}"):
        st.number_input("Seeds", min_value=1, max_value=4, key="fv_seeds")
        st.multiselect("Facets", names, key="fv_facets")
    downloads.pictures_button(loaded, ctx.layer, unit, results, "fv_png", row)
    key = resources.featurevis_job_key(ctx.model_id, ctx.layer, unit, seeds, facets)
    job = resources.get_job(key)
    if any(r is None for r in results) and row.button("Render feature visualizations", key="fv_render"):
        resources.featurevis_job(ctx.model_id, ctx.layer, unit, seeds, facets)
        st.rerun()
    if job is not None and not job.finished.is_set():
        widgets.watch_cancellable(job)  # the title names the phase: a facet's probe training, then the rendering
    elif job is not None and job.cancelled and any(r is None for r in results):
        st.info("Rendering cancelled; finished pictures are kept.", icon=":material/cancel:")
    elif job is not None and job.error is not None and not job.cancelled:
        st.error(f"Rendering failed: {html.md_escape(job.error)}")
    heading = html.heading_html("Top rastered words", f"The {len(words.load_vocabulary()):,} most common English "
                                "words drawn as images; a word's activation is the unit's spatial max, averaged over "
                                "two fonts/sizes" + (", in standard deviations from zero (σ) like the pictures above"
                                                     if ctx.has_examples else "")
                                + "; vs vocabulary: σ above the vocabulary's mean.")
    if not words.is_scored(loaded, ctx.layer):
        widgets.html_block("fv_words", html.tagged(unit, heading))
        wjob = resources.get_job(resources.words_job_key(ctx.model_id, ctx.layer))
        if wjob is not None and not wjob.finished.is_set():
            widgets.watch_cancellable(wjob, "Scoring words")
            return
        if wjob is not None and wjob.cancelled:
            st.info("Word scoring cancelled; the words scored so far are kept.", icon=":material/cancel:")
        if st.button("Score the word vocabulary (once per model and layer)", key="words_score"):
            resources.words_job(ctx.model_id, ctx.layer)
            st.rerun()
        return
    top, bottom = (_word_units(ctx, unit, t) for t in resources.neuron_words(ctx.model_id, ctx.layer, unit, 15))
    tables = (f'<div style="display:flex;flex-wrap:wrap;gap:24px">{html.table_html(top, "Top words")}'
              f'{html.table_html(bottom, "Bottom words")}</div>')
    widgets.html_block("fv_words", html.tagged(unit, heading + tables))


def _word_units(ctx: Context, unit: int, df):
    """The word table with its units named: activation in σ from zero (the collection's std, as the card's
    pictures) when the collection is indexed at this layer, else raw; score in σ from the vocabulary mean."""
    std = float(resources.get_artifact(ctx.artifact)[0].unit_std[unit]) if ctx.has_examples else 0.0
    if std > 0:
        df = df.assign(activation=df["activation"] / std).rename(columns={"activation": "activation (σ)"})
    else:
        df = df.rename(columns={"activation": "raw activation"})
    return df.rename(columns={"score": "vs vocabulary (σ)"})

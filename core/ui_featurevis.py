"""The neuron card's feature-visualization and top-rastered-words sections (Streamlit adapter over
``core.featurevis`` and ``core.words``; renders run as background jobs with progress and Cancel)."""
from __future__ import annotations

import streamlit as st

from core import resources
from core.ui import Context


def _watch_cancellable(job: resources.Job, what: str, cancel_key: str | None) -> None:
    """Progress of a running job with a Cancel button (a click reruns the script and sets the flag)."""
    if cancel_key is not None and st.button("Cancel", key=f"cancel_{cancel_key}"):
        resources.cancel_event(cancel_key).set()
    bar = st.progress(job.fraction, text=what)
    while not job.finished.wait(0.5):
        bar.progress(job.fraction, text=f"{what}: {job.done} / {job.total or '?'}")
    st.rerun()


def feature_visualization_card(ctx: Context, unit: int) -> None:
    """Feature visualizations (rendered on demand, then cached) and the unit's top/bottom rastered words."""
    from core import words
    from core.featurevis.facets import facet_names
    from core.featurevis import strip
    from core.featurevis.strip import RenderCancelled, cached_strip, strip_items

    loaded = resources.get_model(ctx.model_id)
    st.subheader("Feature visualization")
    st.caption(f"Images optimised to excite the unit (Fourier parametrization with decorrelated colour, random "
               f"jitter/scale/rotation, {strip.STRIP_STEPS} steps). Facets add a linear-probe prior on an earlier layer "
               "(paper §2.2): `text` = rendered words vs pictures, the others = demo-corpus categories.")
    left, right = st.columns([1, 3])
    seeds = int(left.number_input("Seeds", min_value=1, max_value=4, value=2, key="fv_seeds"))
    facets = tuple(right.multiselect("Facets", facet_names(), default=["text"], key="fv_facets"))
    items = strip_items(seeds, facets)
    results = cached_strip(loaded, ctx.layer, unit, items)
    for col, item, res in zip(st.columns(len(items)), items, results):
        if res is None:
            col.caption(f"{item.label}: not rendered yet")
        else:
            col.image(res.to_pil()[0], caption=item.label, width="stretch")
            col.caption(f"`{res.objective}`")
    key = resources.featurevis_job_key(ctx.model_id, ctx.layer, unit, seeds, facets)
    job = resources.get_job(key)
    if job is not None and not job.finished.is_set():
        _watch_cancellable(job, "Rendering (optimisation steps)", key)
    elif job is not None and job.error is not None and not isinstance(job.error, RenderCancelled):
        st.error(f"Rendering failed: {job.error}")
    if any(r is None for r in results) and st.button("Render feature visualizations", key="fv_render"):
        resources.featurevis_job(ctx.model_id, ctx.layer, unit, seeds, facets)
        st.rerun()
    st.subheader("Top rastered words")
    st.caption("The 12,000 most common English words drawn as images; a word's value is the unit's spatial max, "
               "averaged over two fonts/sizes; score = std-devs from the vocabulary mean.")
    if not words.is_scored(loaded, ctx.layer):
        wjob = resources.get_job(resources.words_job_key(ctx.model_id, ctx.layer))
        if wjob is not None and not wjob.finished.is_set():
            _watch_cancellable(wjob, "Scoring words", None)
        elif st.button("Score the word vocabulary (once per model and layer)", key="words_score"):
            resources.words_job(ctx.model_id, ctx.layer)
            st.rerun()
        return
    top, bottom = resources.neuron_words(ctx.model_id, ctx.layer, unit, 15)
    c1, c2 = st.columns(2)
    c1.markdown("**Top words**")
    c1.dataframe(top, hide_index=True)
    c2.markdown("**Bottom words**")
    c2.dataframe(bottom, hide_index=True)

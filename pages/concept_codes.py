"""Sparse concept codes: a concept as a few neurons (non-negative lasso), a list of concepts as an NMF atlas."""
from __future__ import annotations

import streamlit as st

import ui
from core import svg_charts
from core.analyses.concepts import ARTICLE_EMOTIONS, INDISTINCT_COSINE, PROMPT_SETS, code_cosine, probes_for
from ui import resources, urlstate
from ui.downloads import csv_button

KINDS = list(PROMPT_SETS)
THUMBS = 4


def code_inputs() -> tuple[str, str, float, int]:
    """Concept (URL ``concept``), prompt kind, sparsity (alpha in %) and how many neurons to show."""
    concept = ui.url_text(st.text_input, "Concept", "concept", key="cc_concept", max_chars=urlstate.MAX_QUERY_CHARS,
                          placeholder="e.g. surprised, jealous, Christmas", help="Press Enter to fit its sparse code.")
    options = st.popover("Prompts and sparsity", icon=":material/tune:")  # drawn only when opened (a lighter first load)
    kind = ui.url_choice(options.radio, "Prompts", "kind", KINDS, "emotion", key="cc_kind", horizontal=True,
                         help="emotion: the article's three prompts ('i am feeling {}', 'Me feeling {} on my face', "
                              "'a photo of me with a {} expression on my face'); plain: the text itself.")
    alpha = ui.url_int(options.slider, "L1 strength (% of the largest useful)", "alpha", 1, 95, 30, key="cc_alpha",
                       help="Lower: more neurons, closer fit. Higher: fewer neurons.")
    top = ui.url_int(options.number_input, "Neurons shown", "top", 1, 20, 6, key="cc_top")
    return concept, kind, alpha / 100.0, top


def code_section(ctx: ui.Context, concept: str, kind: str, alpha: float, top: int) -> None:
    code = resources.sparse_code(ctx.model_id, ctx.layer, concept, kind, alpha, None)
    terms = code.table.head(top)
    st.markdown(f"**{ui.md_escape(concept)}** ≈ " + " + ".join(f"{r.relative:.2f} × unit {r.unit}" for r in terms.itertuples()))
    st.caption(f"{code.nnz} neurons in the code · cosine of the fit with the concept {code.fit_cosine:.2f} · "
               f"units at {ui.md_escape(ctx.layer)}")
    twins = {o: code_cosine(code, resources.sparse_code(ctx.model_id, ctx.layer, o, kind, alpha, None))
             for o in probes_for(concept)}
    twins = {o: c for o, c in twins.items() if c > INDISTINCT_COSINE}
    if twins:
        st.warning(f"**This model does not separate these concepts**: the code of *{ui.md_escape(concept)}* is near-identical to "
                   + " and ".join(f"*{ui.md_escape(o)}*'s (cosine {c:.3f})" for o, c in twins.items()) + " between their neuron "
                   "weights. The neurons below answer the prompts' shared wording, not this concept; try the "
                   "plain prompts, or a real CLIP.", icon=":material/warning:")
    ui.html_block("cc_chart", svg_charts.sparse_code_svg(terms, concept=concept))
    ui.neuron_result_list(ctx, terms, "relative", THUMBS)
    csv_button(code.table, f"code_{concept}", "sparse_code")


def atlas_section(ctx: ui.Context, kind: str) -> None:
    st.subheader("Concept atlas")
    st.caption("Non-negative factorisation of the concepts' neuron attribution vectors (the article's emotion "
               "atlas used 7 factors, and 2 for valence/arousal).")
    with st.popover("Build an atlas", icon=":material/tune:"):
        text = st.text_area("Concepts (comma-separated)", ", ".join(ARTICLE_EMOTIONS), key="cc_atlas_concepts")
        k = int(st.number_input("Factors", 2, 12, 4, key="cc_atlas_k"))
        on = st.toggle("Build the atlas", key="cc_atlas_on")
    if not on:
        return
    from core.analyses.zeroshot import parse_class_list

    concepts = tuple(parse_class_list(text))
    atlas = resources.concept_atlas(ctx.model_id, ctx.layer, concepts, k, kind)
    st.caption(f"relative reconstruction error {atlas.error:.2f}")
    left, right = st.columns(2) if k == 2 else (st.container(), None)
    with left:
        ui.altair("atlas_loadings_chart", atlas.loadings, names=atlas.names)
    if right is not None:  # the article's 2-factor (valence/arousal) view
        with right:
            ui.altair("atlas_plane_chart", atlas.loadings)
    st.dataframe(atlas.factors, hide_index=True, key="cc_atlas_factors")


def main() -> None:
    st.title("Sparse concept codes")
    st.caption("Express a concept as a few neurons whose text directions add up to it (non-negative sparse "
               "regression, article §8.1). Each neuron links to its card.")
    ctx = ui.page_context()
    problems = st.container()
    concept, kind, alpha, top = code_inputs()
    ui.show_url_problems(problems)
    params = ctx.params(concept=concept or None, kind=kind, alpha=int(round(alpha * 100)), top=top)
    ui.write_url(params)
    if concept:
        with ui.section_errors():
            code_section(ctx, concept, kind, alpha, top)
        ui.share_link(params)
    else:
        st.info("Type a concept (e.g. *surprised*, *happy*, *Christmas*) and press Enter.")
    with ui.section_errors():
        atlas_section(ctx, kind)


with ui.error_box():
    main()

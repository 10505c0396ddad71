"""The article's units: the 161 RN50x4 units Goh et al. 2021 cite, with their names, where they are cited, their
top rastered words; a text filter, one click to each unit's card."""
from __future__ import annotations

import streamlit as st

import ui
from core.analyses import article_units
from ui import article, urlstate

LOOKUP_PAGE = "pages/neuron_lookup.py"
OPEN = "_au_open"  # the unit whose card link was clicked, for the next run


def model_note(ctx: ui.Context):
    """Say whether the loaded model is the article's; returns the match (None: other model)."""
    match = article.model_match(ctx)
    if match is None:
        st.warning(f"These unit numbers are the article's RN50x4 units (layer `visual.layer4.5.act3@in`); the loaded "
                   f"model ({ctx.model_id}) is not an RN50x4 with trained weights, so its units of the same numbers "
                   "are other neurons. Load `RN50x4/openai` (or OpenAI's RN50x4.pt) in the sidebar to see them.")
    elif not match.exact:
        st.info(f"Labels shown for an architecture match only: {ui.md_escape(match.reason)}.")
    elif ctx.layer != match.layer:
        st.info(f"The article's units are at layer `{match.layer}`; pick it in the sidebar for their cards.")
    return match


def open_picked_card(ctx: ui.Context) -> None:
    """Inside the dashboard, the card of the unit whose "open card" link was clicked (the table's trigger, kept by
    its callback for this run; a page switch cannot happen inside a callback)."""
    unit = st.session_state.pop(OPEN, None)
    if unit is None or not st.session_state.get("_shell_run"):
        return
    match = article.model_match(ctx)
    params = ctx.params(unit=int(unit), layer=match.layer if match else ctx.layer)
    st.switch_page(LOOKUP_PAGE, query_params={k: str(v) for k, v in params.items() if v is not None})


def main() -> None:
    st.title("The article's units")
    st.caption("The 161 units of RN50x4 that *Multimodal Neurons* (Goh et al. 2021) cites, with the article's "
               "names, the figure or section that cites them and their top rastered words (from the article's "
               "code). Filter by any of these; a unit's link opens its card here, the article link its mention.")
    ctx = ui.page_context()
    open_picked_card(ctx)
    ui.show_url_problems()
    match = model_note(ctx)
    ui.bind_url("au_query", "q", lambda raw: urlstate.parse_text("q", raw or "", 80))
    query = st.text_input("Filter", key="au_query", max_chars=80, placeholder="e.g. Spider-Man, emotion, Fig 7, 1450")
    ui.remember("au_query")
    ui.show_url_problems()
    table = article_units.cited_units()
    shown = article_units.filter_units(table, query)
    layer = match.layer if match else ctx.layer
    view = shown.assign(
        top_words=shown["top_words"].map(", ".join),
        card=["./" + urlstate.query_string(ctx.params(unit=int(u), layer=layer)) for u in shown["unit"]],
    )[["unit", "label", "cited", "facet", "top_words", "card", "link"]]
    st.caption(f"{len(view)} of {len(table)} units" + (f" match '{ui.md_escape(query)}'" if query.strip() else ""))
    # one HTML block, not a data grid: the grid's code would be most of the page's first load
    ui.html_block("au_table", ui.units_table_html(view), on_open=lambda unit: st.session_state.__setitem__(OPEN, unit))
    st.download_button("Download CSV", view.drop(columns=["card"]).to_csv(index=False).encode(), "article_units.csv",
                       "text/csv", key="au_csv", icon=":material/download:")
    params = ctx.params(q=query.strip() or None)
    ui.write_url(params)
    ui.share_link(params)


with ui.error_box():
    main()

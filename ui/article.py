"""The article's own name for a unit on the card (``core.analyses.article_units``): shown when the loaded model is
the article's RN50x4 (or an RN50x4 at all, said so) and the card is at the article's layer."""
from __future__ import annotations

import streamlit as st

from core.analyses import article_units
from ui import resources
from ui.html import md_escape
from ui.state import Context

CITED_PAGE = "pages/article_units.py"


def model_match(ctx: Context):
    """``article_units.article_match`` of the context's model (None: the article's labels do not apply here)."""
    return article_units.article_match(resources.get_model(ctx.model_id))


def article_name(ctx: Context, unit: int) -> None:
    """One line under the card's heading: the article's label for ``unit``, where it is cited and a link to it;
    a caption when the labels hold for the architecture only. Nothing for other models or layers."""
    match = model_match(ctx)
    if match is None or ctx.layer != match.layer:
        return
    entry = article_units.unit_entry(unit)
    if entry is None:
        st.caption(f"The article cites no unit {unit} of this layer (it names 161; see **The article's units**).")
        return
    st.markdown(f":material/menu_book: **The article's name: {md_escape(entry['label'])}** · {md_escape(entry['cited'])} · "
                f"[read it in the article]({entry['link']})")
    if not match.exact:
        st.caption(f"Shown for an architecture match only: {md_escape(match.reason)}.")

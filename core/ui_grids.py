"""Streamlit renderers of dataset-example grids, cached charts and ranked-neuron lists (used by every page).

Adapters like ``core.ui``: they call ``core.resources`` (cached) and pure ``core`` functions.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core import resources, urlstate
from core.ui import LOOKUP_PAGE, Context


def image_grid(ctx: Context, df: pd.DataFrame, *, outline: bool = True, caption: str = "value",
               width: int = 110) -> None:
    """Dataset-example tiles of ``df`` (columns row, ``caption``, label; argmax when outlined)."""
    if df.empty:
        st.caption("No examples.")
        return
    rows = tuple(int(r) for r in df["row"])
    argmax = tuple(int(a) for a in df["argmax"]) if outline else None
    labels = df["label"].fillna("").astype(str) if "label" in df else pd.Series([""] * len(df))
    values = df[caption].tolist()
    caps = [f"{lab} {v:+.3g}".strip() if isinstance(v, float) else f"{lab} {v}".strip()
            for lab, v in zip(labels, values)]
    tiles = resources.tiles(*ctx.art, rows, argmax, width)
    st.html(_grid_html(tiles, caps, width))


def _grid_html(tiles: list[bytes], captions: list[str], width: int) -> str:
    """One HTML block for a whole grid of JPEG tiles (inline data URIs) with captions: a neuron switch
    re-renders one element per grid instead of one per tile, and the browser fetches nothing."""
    import base64
    import html

    cells = "".join(
        f'<figure style="margin:0;width:{width}px"><img alt="{html.escape(c)}" width="{width}" height="{width}" '
        f'src="data:image/jpeg;base64,{base64.b64encode(t).decode()}"/>'
        f'<figcaption style="font-size:0.8rem;text-align:center;opacity:0.7">{html.escape(c)}</figcaption></figure>'
        for t, c in zip(tiles, captions))
    return f'<div style="display:flex;flex-wrap:wrap;gap:8px">{cells}</div>'


def chart(kind: str, df: pd.DataFrame) -> None:
    """Render ``df`` with a cached chart template (``core.charts`` builder, data-free) at full width."""
    st.vega_lite_chart(df, resources.chart_template(kind), width="stretch")


def neuron_result_list(ctx: Context, ranked: pd.DataFrame, score: str, thumbs: int) -> None:
    """Ranked neurons, each with its score, its top dataset examples and a link that opens its card."""
    in_shell = bool(st.session_state.get("_shell_run"))
    for rec in ranked.to_dict("records"):
        unit = int(rec["unit"])
        params = ctx.params(unit=unit)
        with st.container(border=True):
            head, link = st.columns([3, 1], vertical_alignment="center")
            head.markdown(f"**Unit {unit}** · {score} {rec[score]:.3f}")
            if in_shell:
                link.page_link(LOOKUP_PAGE, label="Open card", icon=":material/open_in_new:",
                               query_params={k: str(v) for k, v in params.items() if v is not None})
            else:
                link.markdown(f"[Open card](/neuron_lookup{urlstate.query_string(params)})")
            if ctx.has_examples:
                image_grid(ctx, resources.examples(*ctx.art, unit, thumbs, False), width=72)

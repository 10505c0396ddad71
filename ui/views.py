"""The layer grid's tiles and the card's 48 argmax-centred examples with a zoom (HTML built here, every text
escaped; drawn by ``ui.widgets.html_block``)."""
from __future__ import annotations

import base64
import html

import pandas as pd
import streamlit as st

from core.analyses import layer_grid
from ui import urlstate, widgets
from ui.resources import views
from ui.state import Context
from ui.url import bind_url, remember

OPEN_UNIT = "_grid_open_unit"


def _img(data: bytes | None, mime: str, size: int, alt: str) -> str:
    if data is None:
        return f'<div style="width:{size}px;height:{size}px;background:#eee"></div>'
    return (f'<img alt="{html.escape(alt)}" width="{size}" height="{size}" '
            f'src="data:{mime};base64,{base64.b64encode(data).decode()}"/>')


def tiles_html(items, size: int) -> str:
    """Tiles (unit, image bytes or None, mime, caption, href, in_app) as one block; a tile opens its card."""
    cells = []
    for unit, data, mime, caption, href, in_app in items:
        attr = f' data-unit="{int(unit)}"' if in_app else ""
        cells.append(f'<a href="{html.escape(href)}"{attr} data-tile="{int(unit)}" style="text-decoration:none;'
                     f'color:inherit"><figure style="margin:0;width:{size}px">{_img(data, mime, size, caption)}'
                     f'<figcaption style="font-size:0.75rem;text-align:center;opacity:0.8;overflow:hidden;'
                     f'white-space:nowrap;text-overflow:ellipsis">{html.escape(caption)}</figcaption></figure></a>')
    return f'<div data-grid style="display:flex;flex-wrap:wrap;gap:8px">{"".join(cells)}</div>'


def layer_tiles(ctx: Context, units: list[int], *, show: str, zoom: int, size: int, names: dict[int, str]) -> pd.DataFrame:
    """The tiles of ``units`` (top example crops, or cached feature visualizations); a click opens the card.
    Returns the data shown (unit, name, top example row/key/label/value)."""
    in_shell = bool(st.session_state.get("_shell_run"))
    picked = st.session_state.pop(OPEN_UNIT, None)
    if in_shell and picked is not None:
        st.switch_page(widgets.LOOKUP_PAGE, query_params={k: str(v) for k, v in ctx.params(unit=int(picked)).items()
                                                          if v is not None})
    frame = views.layer_frame(ctx.artifact, tuple(units)) if ctx.has_examples else pd.DataFrame({"unit": units})
    if show == "fv":
        images, mime = views.cached_feature_visualizations(ctx.model_id, ctx.layer, tuple(units)), "image/png"
    elif ctx.has_examples:
        images = views.crop_tiles(ctx.artifact, tuple(int(r) for r in frame["row"]),
                                  tuple(int(a) for a in frame["argmax"]), size, zoom)
        mime = "image/jpeg"
    else:
        images, mime = [None] * len(units), "image/png"
    frame = frame.assign(name=[names.get(int(u), "") for u in frame["unit"]])
    items = [(u, data, mime, f"{u} {names.get(u, '')}".strip(),
              "./" + urlstate.query_string(ctx.params(unit=u)), in_shell) for u, data in zip(units, images)]
    widgets.html_block("layer_tiles", tiles_html(items, size),
                       on_open=(lambda unit: st.session_state.__setitem__(OPEN_UNIT, unit)) if in_shell else None)
    return frame


def more_examples(ctx: Context, unit: int) -> dict:
    """On the card: 48 top examples as crops centred on the most-activating cell (the article's view), with a
    zoom; off until asked (URL ``more=1``, ``zoom``). Returns the URL parameters it sets."""
    if not ctx.has_examples:
        return {}
    bind_url("card_more", "more", lambda raw: urlstate.Parsed(raw == "1"), lambda v: isinstance(v, bool))
    more = st.toggle(f"More examples: the {layer_grid.MAX_EXAMPLES} top ones, centred on the most-activating cell",
                     key="card_more")
    remember("card_more")
    if not more:
        return {"more": None, "zoom": None}
    bind_url("card_zoom", "zoom", lambda raw: urlstate.parse_int("zoom", raw, 1, 4, 2),
             lambda v: isinstance(v, int) and 1 <= v <= 4)
    zoom = int(st.select_slider("Zoom", options=list(layer_grid.ZOOMS), key="card_zoom",
                                format_func=lambda z: "whole picture" if z == 1 else f"{z}x"))
    remember("card_zoom")
    df = views.top_examples(ctx.artifact, unit, layer_grid.MAX_EXAMPLES)
    tiles = views.crop_tiles(ctx.artifact, tuple(int(r) for r in df["row"]), tuple(int(a) for a in df["argmax"]),
                             96, zoom)
    caps = [f"{lab} {v:+.3g}".strip() for lab, v in zip(df["label"].fillna(""), df["value"])]
    items = [(unit, t, "image/jpeg", c, "", False) for t, c in zip(tiles, caps)]
    widgets.html_block("more_examples", tiles_html(items, 96).replace(' href=""', ""))
    st.download_button("Download these examples (CSV)", df.to_csv(index=False).encode(), f"unit{unit}_top48.csv",
                       "text/csv", key="card_more_csv", icon=":material/download:")
    return {"more": 1, "zoom": zoom}

"""Downloads of what a view shows: CSV of its table, JSON of a neuron card (PNGs: ``core.featurevis.png``)."""
from __future__ import annotations

import json
import math

import pandas as pd
import streamlit as st

from ui.state import Context

ICON = ":material/download:"


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(text))[:60] or "view"


def csv_button(df: pd.DataFrame, name: str, key: str, label: str = "Download CSV") -> None:
    """A download button with ``df`` as CSV (the rows and columns the view shows)."""
    st.download_button(label, df.to_csv(index=False).encode(), f"{_slug(name)}.csv", "text/csv", key=f"dl_{key}",
                       icon=ICON, type="tertiary")


def _plain(value):
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def records(df: pd.DataFrame | None) -> list[dict]:
    """A frame as JSON-ready records (numpy scalars made plain, NaN as null)."""
    if df is None:
        return []
    return [{str(k): _plain(v) for k, v in r.items()} for r in df.to_dict(orient="records")]


def json_button(obj: dict, name: str, key: str, label: str = "Download JSON") -> None:
    st.download_button(label, json.dumps(obj, indent=2, default=str).encode(), f"{_slug(name)}.json",
                       "application/json", key=f"dl_{key}", icon=ICON, type="tertiary")


def card_json(ctx: Context, unit: int, labels: pd.DataFrame, similar: pd.DataFrame,
              correlated: pd.DataFrame | None) -> dict:
    """The neuron card as data: model, layer, unit, collection, the article's name (on its model), top and most
    negative examples (rows, keys, labels, values), zero-shot labels and similar neurons."""
    from core.analyses import article_units
    from ui import resources
    from ui.article import model_match

    match = model_match(ctx)
    entry = article_units.unit_entry(unit) if match is not None and match.layer == ctx.layer else None
    out = {"model": ctx.model_id, "layer": ctx.layer, "unit": int(unit), "collection": ctx.collection,
           "article": None if entry is None else {"label": entry["label"], "cited": entry["cited"],
                                                  "link": entry["link"], "match": match.kind}}
    if ctx.has_examples:
        out["top_examples"] = records(resources.examples(ctx.artifact, unit, 12, False))
        out["negative_examples"] = records(resources.examples(ctx.artifact, unit, 6, True))
    out |= {"zero_shot_labels": records(labels), "similar_by_direction": records(similar),
            "similar_by_activation": records(correlated)}
    return out


def card_button(ctx: Context, unit: int, correlated: pd.DataFrame | None) -> None:
    """The card's JSON download (built from the same caches the card reads)."""
    from ui import resources

    labels = resources.unit_labels(ctx.model_id, ctx.layer, unit)
    similar = resources.similar_by_direction(ctx.model_id, ctx.layer, unit, 8)
    json_button(card_json(ctx, unit, labels, similar, correlated), f"unit{unit}_card", "card_json",
                "Download this card (JSON)")


def pictures_button(loaded, layer: str, unit: int, results: list, key: str, where=st) -> None:
    """The rendered pictures of ``results`` (``RenderResult`` or None) side by side as one PNG whose text chunks
    name the model fingerprint, layer, unit, each picture's objective and seed."""
    from PIL import Image

    from core.featurevis.png import png_bytes, provenance

    done = [r for r in results if r is not None]
    if not done:
        return
    images = [r.to_pil()[0] for r in done]
    sheet = Image.new("RGB", (sum(im.width for im in images), max(im.height for im in images)), (255, 255, 255))
    x = 0
    for im in images:
        sheet.paste(im, (x, 0))
        x += im.width
    info = provenance(loaded, " | ".join(r.objective for r in done), done[0].seed, layer=layer, unit=unit,
                      seeds=",".join(str(r.seed) for r in done), pictures=len(done))
    where.download_button("PNG", png_bytes(sheet, info), f"unit{unit}_feature_visualizations.png", "image/png",
                          key=f"dl_{key}", icon=ICON, type="tertiary", help="The pictures shown, with their "
                          "provenance (model fingerprint, layer, unit, objectives, seeds) in the PNG's text chunks.")

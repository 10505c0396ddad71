"""Downloads of what a view shows: CSV of its table, JSON of a neuron card, of a typographic attack, of the attack
lab and of an intervention with their settings, PNGs with their provenance in text chunks (``core.featurevis.png``)."""
from __future__ import annotations

import hashlib
import json
import math

import pandas as pd
import streamlit as st

from ui.state import Context

ICON = ":material/download:"


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(text))[:60] or "view"


def csv_button(df: pd.DataFrame, name: str, key: str, label: str = "Download CSV", where=st) -> None:
    """A download button with ``df`` as CSV (the rows and columns the view shows)."""
    where.download_button(label, df.to_csv(index=False).encode(), f"{_slug(name)}.csv", "text/csv",
                          key=f"dl_{key}", icon=ICON, type="tertiary")


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


def _finite(obj):
    """``obj`` with every non-finite float as None (strict JSON has no NaN or Infinity)."""
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return _plain(obj)


def json_button(obj: dict, name: str, key: str, label: str = "Download JSON", where=st) -> None:
    where.download_button(label, json.dumps(_finite(obj), indent=2, default=str).encode(), f"{_slug(name)}.json",
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


# ---------------------------------------------------------------- typographic attack, attack lab, interventions

def picture_identity(data: bytes, **where) -> dict:
    """Which picture a result is of: where it came from (``where``: source, collection, row, key, label, demo id;
    None values left out) and the SHA-256 of its bytes."""
    return {k: v for k, v in where.items() if v is not None} | {"sha256": hashlib.sha256(data).hexdigest()}


def collection_picture(ctx: Context, data: bytes, row: int | None, label: str | None) -> dict:
    """``picture_identity`` of a collection row (its file key in the artifact) or, with ``row`` None, an upload."""
    from ui import resources

    if row is None:
        return picture_identity(data, source="upload")
    key = str(resources.get_artifact(ctx.artifact)[0].keys[row])
    return picture_identity(data, source="collection", collection=ctx.collection, row=int(row), key=key, label=label)


def _fingerprint(model_id: str) -> str:
    from ui import resources

    return resources.get_model(model_id).fingerprint


def attack_json(ctx: Context, res, spec, classes: list[str], prompt: str, picture: dict, top: int = 5) -> dict:
    """A typographic attack as data: model, fingerprint, layer, picture, the attack (word and placement), the
    prediction before and after, the top classes before and after, every class's probabilities, and the units
    that rose and fell most."""
    from core.analyses.attacks import risers_fallers

    probs, spec = res.probs, spec.validated()  # the text as written on the picture
    rise, fall = risers_fallers(res.deltas, top)
    return {"model": ctx.model_id, "fingerprint": _fingerprint(ctx.model_id), "layer": res.layer, "picture": picture,
            "attack": {"text": spec.text, "style": spec.style, "position": spec.position if spec.style == "sticker"
                       else None, "area": spec.area, "text_height": spec.text_height,
                       "fg": None if spec.fg is None else list(spec.fg), "bg": list(spec.bg) if spec.style == "sticker"
                       else None, "font": spec.font},
            "classes": list(classes), "prompt": prompt,
            "prediction": {"before": res.pred_before, "after": res.pred_after, "flipped": bool(res.flipped),
                           "target": res.target, "success": res.success, "pixels_changed": res.cover},
            "top_before": records(_top(probs, "before", top)), "top_after": records(_top(probs, "after", top)),
            "probabilities": records(probs), "neurons_rose": records(rise), "neurons_fell": records(fall)}


def _top(probs: pd.DataFrame, column: str, top: int) -> pd.DataFrame:
    return probs.sort_values(column, ascending=False, kind="stable").head(top)[["class", column]]


def attack_png(data: dict, image) -> bytes:
    """The attacked picture as PNG, ``attack_json``'s provenance in its text chunks."""
    from core.featurevis.png import png_bytes

    a, p, pic = data["attack"], data["prediction"], data["picture"]
    info = {"model": data["model"], "fingerprint": data["fingerprint"], "layer": data["layer"],
            "picture": ", ".join(f"{k}={v}" for k, v in pic.items()), "attack_text": a["text"],
            "attack_style": a["style"], "attack_position": a["position"], "attack_area": a["area"],
            "attack_text_height": a["text_height"], "attack_fg": a["fg"], "attack_bg": a["bg"],
            "prompt": data["prompt"], "prediction_before": p["before"], "prediction_after": p["after"]}
    return png_bytes(image, {k: str(v) for k, v in info.items() if v is not None})


def attack_buttons(ctx: Context, res, spec, classes: list[str], prompt: str, picture: dict) -> None:
    """The attack's downloads: class probabilities (CSV), the whole result (JSON), the attacked picture (PNG)."""
    data = attack_json(ctx, res, spec, classes, prompt, picture)
    row = st.container(horizontal=True)
    name = f"attack_{spec.text}"
    csv_button(res.probs, name, "attack_csv", "Probabilities (CSV)", row)
    json_button(data, name, "attack_json", "Attack (JSON)", row)
    row.download_button("Attacked picture (PNG)", attack_png(data, res.after), f"{_slug(name)}.png", "image/png",
                        key="dl_attack_png", icon=ICON, type="tertiary", help="With the model fingerprint, layer, "
                        "picture and attack in the PNG's text chunks.")


def attack_lab_json(ctx: Context, res, settings: dict, top: int) -> dict:
    """The attack lab's evaluation: settings, the summary per style, the table, the units that moved most."""
    return {"model": ctx.model_id, "fingerprint": _fingerprint(ctx.model_id), "collection": ctx.collection,
            "settings": settings} | res.to_dict(top=top)


def attack_lab_buttons(ctx: Context, res, settings: dict, top: int) -> None:
    row = st.container(horizontal=True)
    csv_button(res.table, "attack_lab", "attack_lab_csv", "Table (CSV)", row)
    json_button(attack_lab_json(ctx, res, settings, top), "attack_lab", "attack_lab_json", "Summary (JSON)", row)


def intervention_json(ctx: Context, res, settings: dict, picture: dict) -> dict:
    """An intervention: model, fingerprint, layer, the settings and picture, and the result (before/after)."""
    return {"model": ctx.model_id, "fingerprint": _fingerprint(ctx.model_id), "layer": res.layer,
            "settings": settings, "picture": picture, "result": res.to_dict()}


def intervention_buttons(ctx: Context, res, settings: dict, picture: dict, where=st) -> None:
    row = where.container(horizontal=True)
    name = f"intervention_unit{settings['unit']}_{settings['op']}"
    csv_button(res.table, name, "intervention_csv", "Before/after (CSV)", row)
    json_button(intervention_json(ctx, res, settings, picture), name, "intervention_json", "Settings and result "
                "(JSON)", row)

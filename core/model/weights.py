"""Offline availability of model weights, without importing torch or open_clip (``python -m core models``).

The curated menu (``core/data/model_menu.json``) names each pretrained entry's Hugging Face repository (``hf_hub``,
as open_clip's pretrained config has it; a unit test keeps the two in step), so checking the local
Hugging Face cache needs neither torch nor open_clip. Ids the menu does not describe fall back to
``core.model.loading.weights_available`` (which imports open_clip).
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable

from core import config

HF_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


def hf_cached(hub: str | None) -> bool:
    """Whether open_clip's weights file of the Hugging Face repository ``hub`` is in the local cache."""
    if not hub:
        return False
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    repo = hub.rstrip("/")
    for fname in HF_FILES:
        hit = try_to_load_from_cache(repo, fname)
        if isinstance(hit, str) and os.path.exists(hit):
            return True
    return False


def menu_entries() -> list[dict]:
    """The curated model menu entries (``id``, ``title``, ``family``, optional ``hf_hub``)."""
    return [dict(e) for e in json.loads(config.MODEL_MENU_FILE.read_text())["models"]]


def available_offline(entry: dict) -> bool | None:
    """Whether the weights of a menu entry are here; None when that needs open_clip to tell."""
    model_id = entry["id"]
    if model_id == "demo":
        return (config.DEMO_MODEL_DIR / "weights.safetensors").exists()
    if model_id.endswith("/random"):
        return True
    if entry.get("hf_hub"):
        return hf_cached(entry["hf_hub"])
    return None


def list_menu(fallback: Callable[[str], bool] | None = None) -> list[dict]:
    """The curated model menu, each entry with ``available`` (weights here, offline). ``fallback(model_id)`` answers
    for entries the menu does not describe (``core.model.loading.weights_available``, which needs open_clip);
    without one they count as not available."""
    out = []
    for e in menu_entries():
        available = available_offline(e)
        if available is None:
            available = bool(fallback(e["id"])) if fallback is not None else False
        e.pop("hf_hub", None)
        e["available"] = available
        out.append(e)
    return out

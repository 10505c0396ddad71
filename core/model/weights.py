"""Where model weights are found on this machine, without importing torch or open_clip (``python -m core models``).

A pretrained id ``ARCH/TAG`` is served by a local file, in this order: ``<weights_dir>/<ARCH>/<TAG>.pt|.safetensors|.bin``
(``CLIP_EXPLORER_WEIGHTS``), open_clip's Hugging Face cache, the ``~/.cache/clip`` folder of its URL downloads. The curated menu (``core/data/model_menu.json``) names each pretrained entry's Hugging Face repository (``hf_hub``,
as open_clip's pretrained config has it; a unit test keeps the two in step), so checking the local
Hugging Face cache needs neither torch nor open_clip. Ids the menu does not describe fall back to
``core.model.loading.weights_available`` (which imports open_clip).
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from core import config

HF_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


WEIGHT_SUFFIXES = (".pt", ".safetensors", ".bin")


def weights_path(arch: str, tag: str, suffix: str = ".pt") -> Path:
    """Where a local file makes the id ``ARCH/TAG`` work: ``<weights_dir>/<ARCH>/<TAG><suffix>``
    (``CLIP_EXPLORER_WEIGHTS``, default ``<repo>/weights``); ``.pt`` (OpenAI's TorchScript archive or a state
    dict), ``.safetensors`` or ``.bin``."""
    return config.get_settings().weights_dir / arch / f"{tag}{suffix}"


def hf_cached_file(hub: str | None) -> Path | None:
    """open_clip's weights file of the Hugging Face repository ``hub`` in the local cache, if it is there."""
    if not hub:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    repo = hub.rstrip("/")
    for fname in HF_FILES:
        hit = try_to_load_from_cache(repo, fname)
        if isinstance(hit, str) and os.path.exists(hit):
            return Path(hit)
    return None


def hf_cached(hub: str | None) -> bool:
    """Whether open_clip's weights file of the Hugging Face repository ``hub`` is in the local cache."""
    return hf_cached_file(hub) is not None


def local_file(arch: str, tag: str, hub: str | None = None, url: str | None = None) -> Path | None:
    """The local weights file of ``ARCH/TAG``: the weights folder first, then the Hugging Face cache (``hub``),
    then ``~/.cache/clip`` (the file name of ``url``)."""
    for suffix in WEIGHT_SUFFIXES:
        p = weights_path(arch, tag, suffix)
        if p.is_file():
            return p
    hit = hf_cached_file(hub)
    if hit is not None:
        return hit
    if url:
        p = Path(os.path.expanduser("~/.cache/clip")) / os.path.basename(url)
        if p.is_file():
            return p
    return None


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
    if entry.get("hf_hub") and "/" in model_id:
        arch, _, tag = model_id.partition("/")
        return local_file(arch, tag, entry["hf_hub"]) is not None
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

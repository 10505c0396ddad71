"""On-disk cache of feature-visualization renders, keyed by everything that changes the picture.

Key = hash of (model fingerprint, objective name — which names the neuron, facet and strength —,
steps, seed, size, batch, parametrization, transforms, learning rate, cache version). Entries live
under ``<artifacts>/featurevis/renders/<fingerprint>/<key>.npz`` (+ ``.json``); writes are atomic
(temporary file + rename), so a crash never leaves a half-written entry. Cancelled renders are
never stored. No streamlit.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.config import get_settings
from core.files import atomic_write_bytes

if TYPE_CHECKING:
    from core.model.loading import LoadedModel

logger = logging.getLogger(__name__)

CACHE_VERSION = 1
DEFAULTS = {"steps": 256, "seed": 0, "size": None, "batch": 1, "param": "fft", "transforms": "standard", "lr": 0.05}


def render_config(loaded: LoadedModel, **kw) -> dict:
    """The full render configuration (defaults filled in; size defaults to the model's)."""
    unknown = set(kw) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"unknown render options {sorted(unknown)}; valid: {sorted(DEFAULTS)}")
    cfg = {**DEFAULTS, **kw}
    cfg["size"] = int(cfg["size"] or loaded.image_size)
    return cfg


def render_key(loaded: LoadedModel, objective_name: str, cfg: dict) -> str:
    """A hex key of everything that changes the rendered images."""
    ident = {"v": CACHE_VERSION, "model": loaded.fingerprint, "objective": objective_name, **cfg}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:24]


def _entry(loaded: LoadedModel, key: str) -> Path:
    return get_settings().artifacts_dir / "featurevis" / "renders" / loaded.fingerprint / f"{key}.npz"


def lookup(loaded: LoadedModel, objective, **kw):
    """The cached ``RenderResult`` for this configuration, or None."""
    from core.featurevis.objectives import as_objective
    from core.featurevis.render import RenderResult

    obj = as_objective(objective)
    cfg = render_config(loaded, **kw)
    path = _entry(loaded, render_key(loaded, obj.name, cfg))
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            images = z["images"].astype(np.float32) / 255.0
            losses = z["losses"].tolist()
            meta = json.loads(str(z["meta"]))
    except (OSError, ValueError, KeyError) as err:  # corrupt entry: treat as a miss, re-render over it
        logger.warning("ignoring unreadable render cache entry %s (%s)", path, err)
        return None
    return RenderResult(images=images, losses=losses, steps=cfg["steps"], steps_done=len(losses), objective=obj.name,
                        seed=cfg["seed"], seconds=0.0, meta={**meta, "cached": True, "path": str(path)})


def store(loaded: LoadedModel, result, **kw) -> Path | None:
    """Store a finished ``RenderResult`` (cancelled ones are skipped). Returns the entry path."""
    if result.cancelled:
        return None
    if not (np.isfinite(result.images).all() and np.isfinite(np.asarray(result.losses, np.float64)).all()):
        logger.warning("not caching a render of %s with non-finite values", result.objective)
        return None  # a diverged render would be cached as a black picture
    cfg = render_config(loaded, **kw)
    path = _entry(loaded, render_key(loaded, result.objective, cfg))
    meta = {**result.meta, **cfg, "objective": result.objective, "model": loaded.id,
            "fingerprint": loaded.fingerprint, "render_seconds": round(result.seconds, 3)}
    buf = io.BytesIO()
    np.savez_compressed(buf, images=(np.clip(result.images, 0, 1) * 255).round().astype(np.uint8),
                        losses=np.asarray(result.losses, np.float32), meta=np.array(json.dumps(meta)))
    atomic_write_bytes(path, buf.getvalue())
    return path


def cached_render(loaded: LoadedModel, objective, *, on_step=None, **kw):
    """``render`` with the disk cache: a cached configuration returns at once (``meta['cached']``).

    Args:
        loaded: a ``LoadedModel``.
        objective: an ``Objective`` or ``"layer:unit"``.
        on_step: progress callback, as in ``render`` (not called on a cache hit).
        **kw: steps, seed, size, batch, param, transforms (a set name), lr.
    """
    from core.featurevis.objectives import as_objective
    from core.featurevis.render import render

    obj = as_objective(objective)
    hit = lookup(loaded, obj, **kw)
    if hit is not None:
        return hit
    cfg = render_config(loaded, **kw)
    result = render(loaded, obj, on_step=on_step, **cfg)
    path = store(loaded, result, **kw)
    result.meta.update({"cached": False, "path": str(path) if path else None})
    return result

"""What a server lets a visitor load: the listed models only (shared mode), and no model that would not fit in memory.

``check_allowed`` compares ids as strings and never looks at the file an ``ARCH@FILE`` id names, so its answer is
the same whether that file exists or not. ``check_memory`` estimates a model's size from its architecture (the
model built on torch's ``meta`` device: shapes, no memory, no weights read) before anything is created.
Nothing here imports streamlit.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from core import config
from core.errors import BadInputError, CoreError

logger = logging.getLogger(__name__)

NOT_OFFERED = "That model is not offered on this server. Pick one of the models in the list."
BYTES_PER_PARAM = 4  # the dashboard keeps models in float32
MEMINFO = "/proc/meminfo"


class ModelNotOfferedError(BadInputError):
    """A model id this shared server does not list (one message for every such id: it reveals nothing)."""


class ModelTooLargeError(CoreError):
    """A model whose estimated size exceeds the memory budget."""


def allowed_models(settings: config.Settings | None = None) -> tuple[str, ...] | None:
    """The ids a visitor may load: the listed ones on a shared server, ``None`` (anything) on an open one."""
    settings = settings or config.get_settings()
    return settings.listed_models if settings.shared else None


def check_allowed(model_id: str, settings: config.Settings | None = None) -> None:
    """Refuse, on a shared server, any id it does not list (``ModelNotOfferedError``, one neutral message)."""
    allowed = allowed_models(settings)
    if allowed is not None and (model_id or "").strip() not in allowed:
        raise ModelNotOfferedError(NOT_OFFERED)


@dataclass(frozen=True)
class Estimate:
    """A model's parameters and the memory its loading peaks at (``peak_bytes``)."""

    params: int
    peak_bytes: int
    reason: str


def estimate(model_id: str) -> Estimate:
    """The memory ``load_model(model_id)`` would take, from the architecture alone.

    The model is built on the ``meta`` device (about 0.1-0.3 s, even for ViT-bigG-14: no memory, no weights read) and
    its parameters and buffers counted at 4 bytes. Weights read from a file or the hub double the peak (the state
    dict sits beside the model while it is copied in); ``ARCH/random`` and the demo do not. The file an
    ``ARCH@FILE`` id names is never opened here.

    Raises:
        UnknownModelError: the id is malformed or names an unknown architecture.
    """
    import torch

    from core.model.loading import DEMO_ID, _open_clip, _quiet_open_clip, parse_model_id, register_config

    spec = parse_model_id(model_id)
    oc = _open_clip()
    arch = spec.arch
    if spec.kind == "demo":
        register_config(DEMO_ID, json.loads((config.DEMO_MODEL_DIR / "config.json").read_text()))
        arch = DEMO_ID
    with torch.device("meta"), _quiet_open_clip():
        model = oc.create_model(arch, pretrained=None, device="meta")
    params = sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers())
    copies = 2 if spec.kind in ("file", "pretrained") else 1
    why = "weights and a copy of them while they load" if copies == 2 else "weights"
    return Estimate(int(params), int(params) * BYTES_PER_PARAM * copies, why)


def available_bytes(settings: config.Settings | None = None) -> tuple[int | None, str]:
    """The memory budget for loading a model: ``CLIP_EXPLORER_MAX_MODEL_GB`` if set, else MemAvailable from
    /proc/meminfo (``None`` where neither is known), with where it comes from."""
    settings = settings or config.get_settings()
    if settings.max_model_gb is not None:
        return int(settings.max_model_gb * 1e9), "CLIP_EXPLORER_MAX_MODEL_GB"
    return meminfo_available(), "available memory (/proc/meminfo)"


def meminfo_available(path: str = MEMINFO) -> int | None:
    """MemAvailable from /proc/meminfo in bytes, or ``None`` where there is no such file."""
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_memory(model_id: str, settings: config.Settings | None = None) -> Estimate | None:
    """Refuse a model whose estimate exceeds the budget (``ModelTooLargeError``) before it is created.

    Returns:
        The estimate, or ``None`` where no budget is known.
    """
    budget, source = available_bytes(settings)
    if budget is None:
        return None
    est = estimate(model_id)
    if est.peak_bytes > budget:
        raise ModelTooLargeError(
            f"This model needs about {est.peak_bytes / 1e9:.1f} GB to load ({est.params / 1e6:.0f} M parameters: "
            f"{est.reason}), more than this server has for it ({budget / 1e9:.1f} GB, {source}). "
            "Pick a smaller model.")
    logger.info("memory guard: %s needs ~%.2f GB of %.2f GB (%s)", model_id, est.peak_bytes / 1e9, budget / 1e9,
                source)
    return est

"""The model fingerprint that stamps every artifact: a hash of everything that decides the model's outputs."""
from __future__ import annotations

import hashlib
import json

import torch


def fingerprint(model: torch.nn.Module, cfg: dict) -> str:
    """A 16-hex-digit hash of everything that decides the model's outputs: the config, the activation the model
    was built with (QuickGELU or GELU, read from its modules), its image preprocessing where it differs from
    open_clip's default for its image size, and every parameter/buffer (dtype, shape and bytes).

    The activation and preprocessing enter as config entries (``quick_gelu: true``, ``preprocess: {...}``) only
    when they are not the defaults, so a GELU model with default preprocessing (the demo) keeps the hash it had
    before they were added."""
    h = hashlib.blake2b(digest_size=8)
    h.update(json.dumps(fingerprint_config(model, cfg), sort_keys=True, default=str).encode())
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def uses_quick_gelu(model: torch.nn.Module) -> bool:
    """Whether any activation module of the model is open_clip's QuickGELU."""
    from open_clip.transformer import QuickGELU

    return any(isinstance(m, QuickGELU) for m in model.modules())


def fingerprint_config(model: torch.nn.Module, cfg: dict) -> dict:
    """The config part of the fingerprint: ``cfg`` with the activation as built and non-default preprocessing."""
    out = {k: v for k, v in cfg.items() if k != "quick_gelu"}
    if uses_quick_gelu(model):
        out["quick_gelu"] = True
    pp = _preprocess_changes(model)
    if pp:
        out["preprocess"] = pp
    return out


def _preprocess_changes(model: torch.nn.Module) -> dict:
    from dataclasses import asdict

    from open_clip.transform import PreprocessCfg

    visual = getattr(model, "visual", None)
    pp = getattr(visual, "preprocess_cfg", None) or {}
    default = asdict(PreprocessCfg())
    default["size"] = getattr(visual, "image_size", default["size"])

    def norm(v):
        return list(v) if isinstance(v, (tuple, list)) else v

    return {k: norm(v) for k, v in sorted(pp.items()) if norm(default.get(k)) != norm(v)}

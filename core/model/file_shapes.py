"""A weights file's tensor names and shapes without torch, and the CLIP architecture they describe.

``tensor_shapes`` reads a safetensors header (JSON) or a ``torch.save`` zip archive's pickle, the latter through an
unpickler that knows only the handful of names a plain state dict uses (no other object is ever built, no code
run); anything else (OpenAI's TorchScript archives, the legacy non-zip format, a pickle of other objects) answers
None, and callers load the file with torch as before. ``state_signature`` and ``cfg_matches`` tell which open_clip
config a state dict's shapes fit (``core.model.checkpoints`` uses them on loaded tensors, ``core.model.layer_table``
on shapes read here).
"""
from __future__ import annotations

import json
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

ZIP_MAGIC = b"PK\x03\x04"  # the first bytes of a zip archive (torch.save's format, TorchScript archives)
_MAX_HEADER = 100 * 2**20  # a safetensors header larger than this is not one we read


class _Shape:
    """What a tensor is here: its shape (``.shape``, a tuple), as ``state_signature`` reads it."""

    __slots__ = ("shape",)

    def __init__(self, shape) -> None:
        self.shape = tuple(int(d) for d in shape)


class _Dict(dict):
    """An ordered dict as pickled by ``torch.save(model.state_dict())``: it carries a ``_metadata`` attribute."""


def _rebuild_tensor(storage, offset, size, *rest):
    return _Shape(size)


def _rebuild_parameter(data, *rest):
    return data


class _StateUnpickler(pickle.Unpickler):
    """Builds only ordered dicts and tensor shapes: the names a ``torch.save(state_dict)`` pickle refers to."""

    _ALLOWED = {("collections", "OrderedDict"): _Dict, ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
                ("torch._utils", "_rebuild_parameter"): _rebuild_parameter}

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[(module, name)]
        if module == "torch" and name.endswith("Storage"):
            return name  # a storage type: its name is enough
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a plain state dict")

    def persistent_load(self, pid):
        return None  # the storage's bytes are never read


def is_torchscript(names: list[str]) -> bool:
    """Whether a zip archive's member ``names`` are a TorchScript archive's (its ``code/`` and ``constants.pkl``)."""
    return any(n.endswith("constants.pkl") or "/code/" in n for n in names)


def tensor_shapes(path: Path) -> dict[str, tuple[int, ...]] | None:
    """``{name: shape}`` of a safetensors file or a ``torch.save`` zip of a state dict (``{"state_dict": ...}``
    unwrapped, ``module.`` dropped), or None when this cannot tell without torch."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            if head[:4] == ZIP_MAGIC:
                state = _zip_state(path)
            else:
                n = int.from_bytes(head, "little") if len(head) == 8 else 0
                if not 0 < n <= _MAX_HEADER:
                    return None
                header = json.loads(fh.read(n))
                state = {k: _Shape(v["shape"]) for k, v in header.items() if k != "__metadata__"}
    except (OSError, ValueError, KeyError, TypeError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError,
            AttributeError, IndexError, RecursionError):
        return None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state or not all(isinstance(k, str) and isinstance(v, _Shape)
                                                            for k, v in state.items()):
        return None
    return {k.removeprefix("module."): v.shape for k, v in state.items()}


def _zip_state(path: Path):
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        if is_torchscript(names):
            return None  # torch reads it
        pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pkl) != 1:
            return None
        with zf.open(pkl[0]) as fh:
            return _StateUnpickler(fh).load()


def state_signature(state) -> dict | None:
    """The open_clip config values a CLIP state dict's shapes fix (``state``: names to tensors, or to shapes as
    ``tensor_shapes`` gives them), or None when the keys are not those of a ResNet or ViT CLIP."""
    state = {k: _Shape(v) if isinstance(v, tuple) else v for k, v in state.items()}

    def count(pattern: str) -> int:
        return len({m.group(1) for k in state if (m := re.match(pattern, k))})

    try:
        sig: dict[str, Any] = {"embed_dim": int(state["text_projection"].shape[1]),
                               "context_length": int(state["positional_embedding"].shape[0]),
                               "vocab_size": int(state["token_embedding.weight"].shape[0]),
                               "text_width": int(state["ln_final.weight"].shape[0]),
                               "text_layers": count(r"transformer\.resblocks\.(\d+)\.")}
        if "visual.attnpool.positional_embedding" in state:
            sig["layers"] = [count(rf"visual\.layer{b}\.(\d+)\.") for b in (1, 2, 3, 4)]
            sig["width"] = int(state["visual.layer1.0.conv1.weight"].shape[0])
            sig["patch_size"] = None
            sig["image_size"] = 32 * round((state["visual.attnpool.positional_embedding"].shape[0] - 1) ** 0.5)
        elif "visual.conv1.weight" in state and "visual.positional_embedding" in state:
            sig["layers"] = count(r"visual\.transformer\.resblocks\.(\d+)\.")
            sig["width"] = int(state["visual.conv1.weight"].shape[0])
            sig["patch_size"] = int(state["visual.conv1.weight"].shape[-1])
            sig["image_size"] = sig["patch_size"] * round((state["visual.positional_embedding"].shape[0] - 1) ** 0.5)
        else:
            return None
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    return sig


def cfg_matches(sig: dict, cfg: dict) -> bool:
    """Whether an open_clip config ``cfg`` has the shape values of ``sig`` (``state_signature``)."""
    v, t = cfg.get("vision_cfg", {}), cfg.get("text_cfg", {})
    layers = v.get("layers")
    image_size = v.get("image_size")
    return (cfg.get("embed_dim") == sig["embed_dim"] and v.get("width") == sig["width"]
            and v.get("patch_size") == sig["patch_size"]
            and (list(image_size) if isinstance(image_size, (list, tuple)) else [image_size] * 2)
            == [sig["image_size"]] * 2
            and (list(layers) if isinstance(layers, (list, tuple)) else layers) == sig["layers"]
            and t.get("width") == sig["text_width"] and t.get("layers") == sig["text_layers"]
            and t.get("context_length", 77) == sig["context_length"] and t.get("vocab_size", 49408) == sig["vocab_size"]
            and not v.get("timm_model_name") and not t.get("hf_model_name"))

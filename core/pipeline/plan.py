"""A run's plan (everything that decides its result: model, layer, collection, top-k, chunks, precision, decoder)
and the output folder it goes to: a finished artifact reused, an unfinished run resumed, another refused."""
from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from core.errors import ArtifactError, ArtifactMismatchError, BadInputError
from core.model.hooks import LayerInfo, capture
from core.pipeline import fast_decode
from core.pipeline.collection import Collection
from core.pipeline.commit import recover
from core.pipeline.layout import FORMAT_VERSION, MANIFEST, OWN_FILES, PARTIAL_DIR
from core.pipeline.store import Artifact, open_artifact, read_manifest

if TYPE_CHECKING:
    from core.model.loading import LoadedModel

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- plan, output dir, work state

def _probe(loaded: LoadedModel, info: LayerInfo) -> dict:
    """Units, positions and embedding size of ``info`` from one blank image."""
    size = loaded.image_size
    with torch.inference_mode(), capture(loaded, [info.id]) as acts:
        emb = loaded.model.encode_image(torch.zeros(1, 3, size, size, device=loaded.device))
    act = acts[info.id]
    if act.dim() == 4:
        grid, layout = [int(act.shape[2]), int(act.shape[3])], "BCHW"
        units, positions = int(act.shape[1]), int(act.shape[2] * act.shape[3])
    elif act.dim() == 3:
        units, positions, layout = int(act.shape[2]), int(act.shape[1]), "BLD"
        side = math.isqrt(max(positions - 1, 0))
        grid = [side, side] if side * side == positions - 1 else [positions]
    else:
        raise BadInputError(f"Layer {info.id} gives shape {tuple(act.shape)}; pick a layer from `layers --model`.")
    if positions > np.iinfo(np.uint16).max:
        raise BadInputError(f"Layer {info.id} has {positions} positions; at most 65535 are supported.")
    return {"units": units, "positions": positions, "grid": grid, "layout": layout, "embed_dim": int(emb.shape[-1])}


def _preprocess_desc(loaded: LoadedModel) -> dict:
    text = re.sub(r" at 0x[0-9a-f]+", "", repr(loaded.preprocess))  # no memory addresses: stable across runs
    cfg = getattr(loaded.model.visual, "preprocess_cfg", None) or {}
    return {"image_size": loaded.image_size, "transform": text, "alpha": "composited on white",
            **{k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}}


def _collection_hash(coll: Collection) -> str:
    h = hashlib.sha256()
    for part in (coll.keys, coll.labels, coll.captions):
        h.update(json.dumps(part, ensure_ascii=False).encode())
    return h.hexdigest()[:32]


def make_plan(loaded: LoadedModel, info: LayerInfo, coll: Collection, topk: int, chunk_rows: int, *,
              precision: str = "fp32",
              decode: str = "cpu") -> dict:
    """The run's identity (compared on resume and rerun) and the manifest's core. ``precision`` is the resolved
    forward precision (fp32/fp16/bf16); ``decode="gpu"`` adds the GPU decoder to ``preprocess``."""
    pre = _preprocess_desc(loaded)
    if decode == "gpu":
        pre["decode"] = fast_decode.DESCRIPTION
    return {"format": FORMAT_VERSION, "model_id": loaded.id, "fingerprint": loaded.fingerprint, "family": loaded.family,
            "layer": info.id, **_probe(loaded, info), "preprocess": pre, "precision": precision,
            "collection": {"root": str(coll.root), "kind": coll.kind, "source": str(coll.source),
                           "candidates": len(coll.keys), "sha256": _collection_hash(coll)},
            "topk": topk, "chunk_rows": chunk_rows}


def _same_result(manifest: dict, plan: dict) -> bool:
    keys = ("fingerprint", "layer", "units", "embed_dim")
    return (all(manifest.get(k) == plan[k] for k in keys) and manifest.get("requested_topk") == plan["topk"]
            and manifest.get("precision", "fp32") == plan.get("precision", "fp32")  # older manifests: float32
            and manifest.get("preprocess", {}).get("decode") == plan["preprocess"].get("decode")
            and manifest.get("collection", {}).get("sha256") == plan["collection"]["sha256"]
            and manifest.get("collection", {}).get("root") == plan["collection"]["root"])


def _describe(d: dict) -> str:
    return (f"model {d.get('model_id')} layer {d.get('layer')} over {d.get('collection', {}).get('source')} "
            f"in {d.get('precision', 'fp32')}")


def prepare_out(out: Path, plan: dict, overwrite: bool) -> Artifact | None:
    """Return the finished artifact if ``out`` already holds this run's result; else make ``out`` ready.

    Call it holding ``artifact_lock(out)``. With ``overwrite`` nothing is deleted here: the old artifact stays
    valid until the new run's ``finalize`` installs its replacement.
    """
    if out.exists() and not out.is_dir():
        raise BadInputError(f"--out {out} is a file; give a directory.")
    recover(out, locked=True)  # a killed run's staged result or leftover work folder
    has_manifest = (out / MANIFEST).is_file()
    if has_manifest and not overwrite:
        try:
            manifest = read_manifest(out)
        except ArtifactError:
            manifest = None
        if manifest is not None and _same_result(manifest, plan):
            logger.info("%s is already complete; nothing to do", out)
            return open_artifact(out)
        raise ArtifactMismatchError(
            f"{out} already holds an artifact ({_describe(manifest or {})}); pass --overwrite to replace it, "
            "or choose another --out.")
    state_file = out / PARTIAL_DIR / "state.json"
    if state_file.is_file():
        try:
            old = json.loads(state_file.read_text(encoding="utf-8"))["plan"]
        except (OSError, ValueError, KeyError):
            old = None
        if old is not None and old != plan and not overwrite:  # with --overwrite, open_work starts it over
            raise ArtifactMismatchError(
                f"{out} holds an unfinished run of {_describe(old)} with other settings; rerun that exact command "
                "to finish it, pass --overwrite to discard it, or choose another --out.")
    elif out.is_dir() and not has_manifest:
        foreign = sorted(p.name for p in out.iterdir() if p.name not in OWN_FILES and not p.name.endswith(".tmp"))
        if foreign:
            raise BadInputError(f"--out {out} is not empty and is not an artifact (it holds {', '.join(foreign[:5])}); "
                                "choose a new or empty directory.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BadInputError(f"--out {out}: cannot create the directory ({err.strerror}); choose a writable path.") \
            from err
    return None

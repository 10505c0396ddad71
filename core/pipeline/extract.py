"""Activation extraction over an image collection into a resumable, atomic artifact (layout: ``core.pipeline.store``).

Reader (``ImageDataset`` in DataLoader workers: decode + preprocess) -> mapper (hooked forward under
``torch.inference_mode``: spatial max/argmax/mean of one layer + the image embedding) -> writer (row
files in ``.partial/``, committed chunk by chunk with a fsynced state file) -> finalize (``core.pipeline.partial``:
compact away skipped files, per-unit stats and top/bottom-k, manifest written last). Rows are computed in a fixed
batch partition, so a run killed at any moment and rerun produces the same bytes as an uninterrupted one.
Nothing here imports streamlit.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from core.errors import ArtifactError, ArtifactMismatchError, BadInputError
from core.files import write_json_atomic
from core.model.hooks import LayerInfo, article_layer, capture, reduce_positions, resolve_layer
from core.pipeline.collection import Collection, read_collection
from core.pipeline.commit import artifact_lock, recover
from core.pipeline.images import BadImageError, open_image
from core.pipeline.layout import FORMAT_VERSION, MANIFEST, OWN_FILES, PARTIAL_DIR
from core.pipeline.partial import WORK, finalize, n_chunks, open_work, work_file
from core.pipeline.store import Artifact, open_artifact, read_manifest

logger = logging.getLogger(__name__)

CHUNK_ROWS = 1024  # rows per committed chunk (the resume granularity)
F16_MAX = float(np.finfo(np.float16).max)


class ProgressFn(Protocol):
    def __call__(self, done: int, total: int) -> None: ...


def default_workers() -> int:
    """Decoding workers for this machine: none on <= 2 cores, where they only compete with the model's threads
    (measured: benchmarks/bench_extract.py), else up to 4, leaving 2 cores to the forward pass."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return 0 if cpus <= 2 else min(4, cpus - 2)


def run_extraction(loaded, source, out_dir, *, layer: str | None = None, batch_size: int = 64,
                   workers: int | None = None,
                   topk: int = 64, progress: ProgressFn | None = None, chunk_rows: int = CHUNK_ROWS,
                   overwrite: bool = False) -> Artifact:
    """Extract one layer's per-unit activations and the image embeddings of a collection.

    Args:
        loaded: a ``LoadedModel``.
        source: a folder tree (sub-folders = labels), a CSV/parquet with ``path[,label,caption]``, or a
            ``Collection``.
        out_dir: the artifact directory (created; an unfinished run there is resumed).
        layer: layer id (default: the article's layer, see ``core.model.hooks.article_layer``).
        batch_size: images per forward pass.
        workers: DataLoader worker processes decoding images (0 = decode in this process; None = auto,
            ``default_workers()``).
        topk: rows kept per unit for the precomputed top/bottom lists.
        progress: ``progress(done, total)`` after every batch (images, skipped ones included).
        chunk_rows: rows per committed chunk; part of the run's identity (keep it when resuming).
        overwrite: replace the artifact in ``out_dir`` (kept valid until the new one is complete) and discard an
            unfinished run with other settings.

    Returns:
        The complete, opened ``Artifact``.

    Raises:
        BadInputError: bad source, parameters or no readable image; ``ArtifactMismatchError``: ``out_dir``
        holds another model's/collection's artifact (pass ``overwrite``); ``LayerNotFoundError``.
    """
    workers = default_workers() if workers is None else workers
    if batch_size < 1 or workers < 0 or topk < 1 or chunk_rows < 1:
        raise BadInputError("batch_size, topk and chunk_rows must be >= 1 and workers >= 0.")
    coll = source if isinstance(source, Collection) else read_collection(source)
    info = resolve_layer(loaded, layer or article_layer(loaded))
    plan = make_plan(loaded, info, coll, topk, chunk_rows)
    out = Path(out_dir).expanduser().resolve()
    with artifact_lock(out):  # one writer per --out: a second run is refused, not interleaved
        done = prepare_out(out, plan, overwrite)
        if done is not None:
            if progress:
                progress(len(coll.keys), len(coll.keys))
            return done
        state = open_work(out / PARTIAL_DIR, plan, len(coll.keys))
        _extract(loaded, info, coll, out / PARTIAL_DIR, state, batch_size, workers, progress)
        return finalize(out, plan, coll, state)


# ---------------------------------------------------------------- plan, output dir, work state

def _probe(loaded, info: LayerInfo) -> dict:
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


def _preprocess_desc(loaded) -> dict:
    text = re.sub(r" at 0x[0-9a-f]+", "", repr(loaded.preprocess))  # no memory addresses: stable across runs
    cfg = getattr(loaded.model.visual, "preprocess_cfg", None) or {}
    return {"image_size": loaded.image_size, "transform": text, "alpha": "composited on white",
            **{k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}}


def _collection_hash(coll: Collection) -> str:
    h = hashlib.sha256()
    for part in (coll.keys, coll.labels, coll.captions):
        h.update(json.dumps(part, ensure_ascii=False).encode())
    return h.hexdigest()[:32]


def make_plan(loaded, info: LayerInfo, coll: Collection, topk: int, chunk_rows: int) -> dict:
    return {"format": FORMAT_VERSION, "model_id": loaded.id, "fingerprint": loaded.fingerprint, "family": loaded.family,
            "layer": info.id, **_probe(loaded, info), "preprocess": _preprocess_desc(loaded),
            "collection": {"root": str(coll.root), "kind": coll.kind, "source": str(coll.source),
                           "candidates": len(coll.keys), "sha256": _collection_hash(coll)},
            "topk": topk, "chunk_rows": chunk_rows}


def _same_result(manifest: dict, plan: dict) -> bool:
    keys = ("fingerprint", "layer", "units", "embed_dim")
    return (all(manifest.get(k) == plan[k] for k in keys) and manifest.get("requested_topk") == plan["topk"]
            and manifest.get("collection", {}).get("sha256") == plan["collection"]["sha256"]
            and manifest.get("collection", {}).get("root") == plan["collection"]["root"])


def _describe(d: dict) -> str:
    return f"model {d.get('model_id')} layer {d.get('layer')} over {d.get('collection', {}).get('source')}"


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


# ---------------------------------------------------------------- reader and mapper

class ImageDataset(torch.utils.data.Dataset):
    """Decodes and preprocesses one image; bad files yield a blank tensor plus (reason, message)."""

    def __init__(self, root: Path, keys: list[str], preprocess, size: int):
        self.root, self.keys, self.preprocess, self.size = root, keys, preprocess, size

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, i: int):
        try:
            return i, self.preprocess(open_image(self.root / self.keys[i], within=self.root)), None
        except BadImageError as err:
            problem = (err.reason, str(err))
        except Exception as err:  # a preprocessing failure must not stop the run either
            problem = ("preprocess-error", f"{self.keys[i]}: {type(err).__name__}: {err}")
        return i, torch.zeros(3, self.size, self.size), problem


def _collate(items):
    rows = [it[0] for it in items]
    return rows, torch.stack([it[1] for it in items]), [it[2] for it in items]


def _worker_init(_worker_id: int) -> None:
    torch.set_num_threads(1)  # decoding workers must not fight the model's threads for the cores


def forward_units(loaded, layer: str, pixels: torch.Tensor) -> dict[str, np.ndarray]:
    """One hooked forward: per-unit spatial max/argmax/mean (B, C) and the embedding (B, D)."""
    with torch.inference_mode(), capture(loaded, [layer]) as acts:
        feats = loaded.model.encode_image(pixels.to(loaded.device))  # (B, D)
    mx, arg, mean = reduce_positions(acts[layer].float())  # each (B, C)
    emb = F.normalize(feats.float(), dim=-1)

    def f16(t: torch.Tensor) -> np.ndarray:
        return np.clip(t.cpu().numpy(), -F16_MAX, F16_MAX).astype(np.float16)

    return {"max": f16(mx), "argmax": arg.cpu().numpy().astype(np.uint16), "mean": f16(mean), "emb": f16(emb)}


def _batches(n: int, plan: dict, done: set[int], batch_size: int) -> list[list[int]]:
    cr = plan["chunk_rows"]
    out = []
    for c in range(n_chunks(n, plan)):
        if c not in done:
            end = min((c + 1) * cr, n)
            out.extend(list(range(s, min(s + batch_size, end))) for s in range(c * cr, end, batch_size))
    return out


def _extract(loaded, info: LayerInfo, coll: Collection, work: Path, state: dict, batch_size: int, workers: int,
             progress: ProgressFn | None) -> None:
    n, plan = len(coll.keys), state["plan"]
    done = set(state["done"])
    batches = _batches(n, plan, done, batch_size)
    finished = n - sum(len(b) for b in batches)
    if progress:
        progress(finished, n)
    if not batches:
        return
    files = {k: work_file(work, k) for k in WORK}
    dataset = ImageDataset(coll.root, coll.keys, loaded.preprocess, loaded.image_size)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=batches, num_workers=workers, collate_fn=_collate,
                                         worker_init_fn=_worker_init if workers else None,
                                         prefetch_factor=4 if workers else None)
    cr = plan["chunk_rows"]
    for rows, pixels, problems in loader:
        ok = [j for j, p in enumerate(problems) if p is None]
        for j, p in enumerate(problems):
            if p is not None:
                state["skipped"][str(rows[j])] = list(p)
        if ok:
            res = forward_units(loaded, info.id, pixels[ok])
            for name, f in files.items():
                block = np.zeros((len(rows), f.shape[1]), f.dtype)  # skipped rows stay zero (dropped at the end)
                block[ok] = res[name]
                f.write(rows[0], block)
        finished += len(rows)
        if rows[-1] + 1 == min((rows[-1] // cr + 1) * cr, n):  # last batch of its chunk: commit
            for f in files.values():
                f.fsync()
            state["done"] = sorted(done | {rows[-1] // cr})
            done.add(rows[-1] // cr)
            write_json_atomic(work / "state.json", state)
        if progress:
            progress(finished, n)

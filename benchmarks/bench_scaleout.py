"""Scale-out figures: local vs Ray engine throughput, merge-step memory vs N, approximate index vs exact.

Usage: ``.venv/bin/python benchmarks/bench_scaleout.py [--images 2000] [--merge-rows 25000 50000 100000]
[--index-rows 100000] [--model demo] [--json out.json]``

Parts, each measured side by side in this one run:
  1. throughput: one synthetic collection of ``--images`` small PNGs (generated into a temp dir, deleted after)
     indexed by the local engine (DataLoader decoding, all torch threads) and by the Ray engine (a local Ray
     instance, one 1-CPU model actor per core); images/s and the ratio ray/local.
  2. merge: the finalize step both engines share (streaming top/bottom-k + stats + compaction) over work files
     of N rows with the model's shapes, in a fresh process per N; peak RSS and the RSS added by the merge.
  3. index: at ``--index-rows``: build time, peak RSS added, single-query latency and recall@10 against
     streaming exact search for flat (exact), IVF-Flat (``core.index``'s auto above 50k) and IVF-PQ
     (``core.merge``), each index memory-mapped as the pages load it.
Rows for parts 2-3 are synthetic (clustered embeddings, random activations), written chunk by chunk through
the real work files; what is measured is the real merge and index code.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402


def rss_mb() -> float:
    """Current resident set size of this process (MB)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------- synthetic data

def make_images(root: Path, n: int, size: int = 48, seed: int = 0) -> Path:
    """``n`` small PNGs (coloured rectangles on white) in 10 labelled folders."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for i in range(n):
        d = root / f"c{i % 10}"
        d.mkdir(parents=True, exist_ok=True)
        arr = np.full((size, size, 3), 255, np.uint8)
        x0, y0, w, h = rng.integers(0, size // 2, 4) + [0, 0, 8, 8]
        arr[y0:y0 + h, x0:x0 + w] = rng.integers(0, 255, 3)
        Image.fromarray(arr).save(d / f"{i:07d}.png")
    return root


def synthetic_plan(out: Path, rows: int, units: int, dim: int, chunk_rows: int, topk: int):
    """A ``Collection`` and extraction plan for ``rows`` synthetic images with the given shapes."""
    from core.collections import Collection
    from core.store import FORMAT_VERSION

    root = (out.parent / "synthetic-images").resolve()
    keys = [f"c{i % 10}/{i:07d}.png" for i in range(rows)]
    coll = Collection(root=root, kind="folder", source=root, keys=keys, labels=[k[:2] for k in keys])
    plan = {"format": FORMAT_VERSION, "model_id": "synthetic", "fingerprint": "0" * 16, "family": "resnet",
            "layer": "synthetic", "units": units, "positions": 4, "grid": [2, 2], "layout": "BCHW",
            "embed_dim": dim, "preprocess": {}, "collection": {"root": str(root), "kind": "folder",
                                                               "source": str(root), "candidates": rows,
                                                               "sha256": f"synthetic-{rows}"},
            "topk": topk, "chunk_rows": chunk_rows}
    return coll, plan


def synthetic_work(out: Path, rows: int, units: int, dim: int, *, chunk_rows: int = 1024, topk: int = 64,
                   clusters: int = 100, seed: int = 0):
    """Write the ``.partial`` work files of a finished synthetic extraction (chunk by chunk, flat memory).

    Embeddings are a mixture of ``clusters`` Gaussian blobs on the sphere (so an ANN index has structure to
    exploit); activations are random. Returns ``(coll, plan, state)`` ready for ``core.extract._finalize``.
    """
    from core.extract import PARTIAL_DIR, _open_work, _prepare_out, _work_file
    from core.store import write_json_atomic

    coll, plan = synthetic_plan(out, rows, units, dim, chunk_rows, topk)
    _prepare_out(out, plan, True)
    work = out / PARTIAL_DIR
    state = _open_work(work, plan, rows)
    files = {k: _work_file(work, k) for k in ("max", "argmax", "mean", "emb")}
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((clusters, dim)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    for s in range(0, rows, chunk_rows):
        b = min(chunk_rows, rows - s)
        emb = centers[rng.integers(0, clusters, b)] + 0.35 * rng.standard_normal((b, dim)).astype(np.float32)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        mx = rng.standard_normal((b, units)).astype(np.float32)
        files["max"].write(s, mx.astype(np.float16))
        files["mean"].write(s, (0.5 * mx + 0.1 * rng.standard_normal((b, units))).astype(np.float16))
        files["argmax"].write(s, rng.integers(0, 4, (b, units)).astype(np.uint16))
        files["emb"].write(s, emb.astype(np.float16))
    state["done"] = list(range(-(-rows // chunk_rows)))
    write_json_atomic(work / "state.json", state)
    return coll, plan, state


def synthetic_artifact(out: Path, rows: int, units: int, dim: int, **kw):
    """A complete synthetic artifact: ``synthetic_work`` + the real merge (``_finalize``)."""
    from core.extract import _finalize

    coll, plan, state = synthetic_work(out, rows, units, dim, **kw)
    return _finalize(out, plan, coll, state)

"""Write a valid synthetic artifact of N images x U units straight to the store format, streaming, in bounded memory.

Usage: ``.venv/bin/python benchmarks/make_synthetic_artifact.py --out DIR --images N --units U [--embed-dim D]
[--labels 20] [--block-rows 8192] [--seed 0] [--model-id synthetic --fingerprint synthetic --layer L] [--no-index]``
(defaults: 1,000,000 x 2,560, D = 640, RN50x4's shapes: about 27 GB on disk with the unit-major copies).

Structure, so every view has something to show: ``--labels`` classes (``labels.json``, keys ``cNN/<row>.jpg``);
embeddings clustered by label (unit-norm centres plus noise, L2-normalised); the spatial max is N(0, 1) per unit
except units 0-7 (heavy tails: Student t, 2 degrees of freedom) and units 8 .. 8 + labels - 1 (unit 8 + c fires
about 3 std on class c, for conditional probability); ``mean`` = 0.4 max - 0.2; argmax uniform over the 9 x 9 grid.
Rows are generated block by block from seeded generators (same arguments, same bytes); per-unit top/bottom-k and
stats go through the finalize step's own streaming classes, the unit-major copy through
``core.pipeline.columns.write_unit_major``, an index is built (exact below 50,000 rows, else IVF-PQ built block by
block) and ``manifest.json`` is written last. Peak memory is a few blocks, whatever N. The images themselves do
not exist: tiles cannot be drawn, every other per-unit view and command works. To open it in the dashboard, pass
the ``--model-id``, ``--fingerprint`` and ``--layer`` of the loaded model (the artifact's model check).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

HEAVY = 8  # units 0..7: heavy-tailed
GRID = (9, 9)  # RN50x4's layer4 grid at 288 px


def _block(rng: np.random.Generator, b: int, units: int, labels: int, centers: np.ndarray):
    lab = rng.integers(0, labels, b)
    mx = rng.standard_normal((b, units), dtype=np.float32)
    mx[:, :HEAVY] = rng.standard_t(2, (b, min(HEAVY, units))).astype(np.float32)[:, :units]
    sel = np.arange(HEAVY, min(HEAVY + labels, units))
    mx[:, sel] += 3.0 * (lab[:, None] == (sel - HEAVY)[None, :])
    emb = centers[lab] + 0.6 * rng.standard_normal((b, centers.shape[1]), dtype=np.float32) / np.sqrt(centers.shape[1])
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    argmax = rng.integers(0, GRID[0] * GRID[1], (b, units), dtype=np.uint16)
    return lab, mx, (0.4 * mx - 0.2), argmax, emb


def make_artifact(out: Path, images: int, units: int, embed_dim: int = 640, *, labels: int = 20, topk: int = 64,
                  block_rows: int = 8192, seed: int = 0, model_id: str = "synthetic", fingerprint: str = "synthetic",
                  layer: str = "visual.layer4.5.act3@in", index: bool = True, log=print) -> Path:
    """Write the artifact into ``out`` (replaced if it exists) and return its path."""
    from core.files import write_json_atomic
    from core.pipeline.columns import write_unit_major
    from core.pipeline.layout import ARRAYS, FORMAT_VERSION, MANIFEST, UNIT_MAJOR
    from core.pipeline.partial import _Moments, _TopK
    from core.pipeline.store import RowFile

    out = Path(out).resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    t0 = time.perf_counter()
    dims = {"max": units, "argmax": units, "mean": units, "emb": embed_dim}
    files = {k: RowFile.create(out / ARRAYS[k][0], (images, d), ARRAYS[k][1]) for k, d in dims.items()}
    k = min(topk, images)
    tops = {f"{w}_{s}": _TopK(k, w == "top") for w in ("top", "bottom") for s in ("max", "mean")}
    moments = {s: _Moments(units) for s in ("max", "mean")}
    centers = np.random.default_rng([seed, 1]).standard_normal((labels, embed_dim)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    all_labels = np.zeros(images, np.int16)
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        for i, s in enumerate(range(0, images, block_rows)):
            b = min(block_rows, images - s)
            lab, mx, mean, argmax, emb = _block(np.random.default_rng([seed, 2, i]), b, units, labels, centers)
            mx16, mean16 = mx.astype(np.float16), mean.astype(np.float16)
            all_labels[s:s + b] = lab
            for name, arr in (("max", mx16), ("mean", mean16), ("argmax", argmax), ("emb", emb.astype(np.float16))):
                files[name].write(s, arr)
            jobs = []
            for name, arr in (("max", mx16), ("mean", mean16)):
                vals = arr.astype(np.float32)  # what finalize sees: the stored float16 values
                jobs += [pool.submit(moments[name].update, vals), pool.submit(tops[f"top_{name}"].update, vals, s),
                         pool.submit(tops[f"bottom_{name}"].update, vals, s)]
            for job in jobs:
                job.result()
            if i % 16 == 0:
                log(f"  rows {s + b:,}/{images:,}  {time.perf_counter() - t0:.0f} s")
    for name, t in tops.items():
        np.save(out / ARRAYS[name][0], t.result())
    stats = np.stack([moments["max"].mean, moments["max"].std, moments["mean"].mean, moments["mean"].std])
    np.save(out / ARRAYS["stats"][0], stats.astype(np.float32))
    for f in files.values():
        f.fsync()
    log(f"  rows written, top-k and stats: {time.perf_counter() - t0:.0f} s")
    for stat, fname in UNIT_MAJOR.items():
        write_unit_major(out / ARRAYS[stat][0], out / fname)
    log(f"  unit-major copy: {time.perf_counter() - t0:.0f} s")
    names = [f"c{c:02d}" for c in range(labels)]
    keys = [f"{names[c]}/{r:07d}.jpg" for r, c in enumerate(all_labels.tolist())]
    (out / "keys.json").write_text(json.dumps(keys), encoding="utf-8")
    (out / "labels.json").write_text(json.dumps([names[c] for c in all_labels.tolist()]), encoding="utf-8")
    (out / "skipped.json").write_text("[]", encoding="utf-8")
    del keys
    root = out / "images"
    manifest = {
        "format": FORMAT_VERSION, "model_id": model_id, "fingerprint": fingerprint, "family": "resnet",
        "layer": layer, "units": units, "positions": GRID[0] * GRID[1], "grid": list(GRID), "layout": "BCHW",
        "embed_dim": embed_dim, "preprocess": {"synthetic": True},
        "collection": {"root": str(root), "kind": "synthetic", "source": str(root), "candidates": images,
                       "sha256": f"synthetic-{images}-{units}-{embed_dim}-{labels}-{seed}"},
        "rows": images, "topk": k, "requested_topk": topk, "chunk_rows": block_rows, "key_column": "keys.json",
        "files": {name: f for name, (f, _) in ARRAYS.items()}, "unit_major": dict(UNIT_MAJOR), "skipped": 0,
        "skipped_reasons": {}, "versions": {"numpy": np.__version__, "python": sys.version.split()[0]},
        "synthetic": {"heavy_units": list(range(min(HEAVY, units))), "label_units": list(
            range(HEAVY, min(HEAVY + labels, units))), "seed": seed},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "run_id": uuid.uuid4().hex,
        "complete": True}
    write_json_atomic(out / MANIFEST, manifest)  # last: the artifact is complete from here on
    if index:
        _index(out, log)
    log(f"  done: {time.perf_counter() - t0:.0f} s, {sum(p.stat().st_size for p in out.iterdir()) / 1e9:.2f} GB")
    return out


def _index(out: Path, log) -> None:
    from core.pipeline.index import APPROX_THRESHOLD, build_index
    from core.pipeline.merge import build_pq_index
    from core.pipeline.store import open_artifact

    art = open_artifact(out)
    t = time.perf_counter()
    if art.rows < APPROX_THRESHOLD:
        build_index(art)
    else:  # bounded memory: trained on a sample, filled block by block (no recall measurement here)
        build_pq_index(art).save(art.path, artifact_manifest=art.manifest)
    log(f"  index: {time.perf_counter() - t:.0f} s")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--images", type=int, default=1_000_000)
    ap.add_argument("--units", type=int, default=2560)
    ap.add_argument("--embed-dim", type=int, default=640)
    ap.add_argument("--labels", type=int, default=20)
    ap.add_argument("--topk", type=int, default=64)
    ap.add_argument("--block-rows", type=int, default=8192)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model-id", default="synthetic")
    ap.add_argument("--fingerprint", default="synthetic")
    ap.add_argument("--layer", default="visual.layer4.5.act3@in")
    ap.add_argument("--no-index", action="store_true")
    a = ap.parse_args(argv)
    need = a.images * (5 * a.units * 2 + a.embed_dim * 2) * 1.02
    free = shutil.disk_usage(a.out.resolve().parent if not a.out.exists() else a.out).free
    print(f"{a.images:,} x {a.units:,} (embed {a.embed_dim}): needs about {need / 1e9:.1f} GB, "
          f"{free / 1e9:.1f} GB free", flush=True)
    if need > free:
        print("error: not enough free disk space", file=sys.stderr)
        return 2
    make_artifact(a.out, a.images, a.units, a.embed_dim, labels=a.labels, topk=a.topk, block_rows=a.block_rows,
                  seed=a.seed, model_id=a.model_id, fingerprint=a.fingerprint, layer=a.layer, index=not a.no_index,
                  log=lambda m: print(m, flush=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

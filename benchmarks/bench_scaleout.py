"""Scale-out figures: local vs Ray engine throughput, merge-step memory vs N, approximate index vs exact.

Usage: ``.venv/bin/python benchmarks/bench_scaleout.py [--images 2000] [--merge-rows 25000 50000 100000]
[--index-rows 100000] [--model demo] [--json out.json]``

Parts, each measured side by side in this one run:
  1. throughput: one synthetic collection of ``--images`` small PNGs (generated into a temp dir, deleted after)
     indexed by the local engine (its default decoding workers, all torch threads) and by the Ray engine (a local Ray
     instance, one 1-CPU model actor per core); images/s and the ratio ray/local.
  2. merge: the finalize step both engines share (streaming top/bottom-k + stats + compaction) over work files
     of N rows with the model's shapes, in a fresh process per N; peak RSS and the RSS added by the merge.
  3. index: at ``--index-rows``: build time, peak RSS added, single-query latency and recall@10 against
     streaming exact search for flat (exact), IVF-Flat (``core.pipeline.index``'s auto above 50k) and IVF-PQ
     (``core.pipeline.merge``), each index memory-mapped as the pages load it.
Rows for parts 2-3 are synthetic (clustered embeddings, random activations), written chunk by chunk through
the real work files; what is measured is the real merge and index code.
"""
from __future__ import annotations

import argparse
import json
import os
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
    """Peak resident set size of this process since the last ``reset_peak_rss`` (MB; Linux VmHWM)."""
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024


def reset_peak_rss() -> float:
    """Reset the kernel's peak-RSS mark to the current RSS (``clear_refs`` 5); returns the current RSS (MB)."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    return rss_mb()


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
    from core.pipeline.collection import Collection
    from core.pipeline.layout import FORMAT_VERSION

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

    Embeddings are ``clusters`` unit-norm centres plus a 16-dimensional within-cluster spread and a little
    isotropic noise, re-normalised (low intrinsic dimension, as image embeddings have; uniform random vectors
    would be every ANN index's worst case); activations are random. Returns ``(coll, plan, state)`` ready for ``core.pipeline.partial.finalize``.
    """
    from core.files import write_json_atomic
    from core.pipeline.extract import PARTIAL_DIR
    from core.pipeline.partial import open_work, work_file
    from core.pipeline.plan import prepare_out

    coll, plan = synthetic_plan(out, rows, units, dim, chunk_rows, topk)
    prepare_out(out, plan, True)
    work = out / PARTIAL_DIR
    state = open_work(work, plan, rows)
    files = {k: work_file(work, k) for k in ("max", "argmax", "mean", "emb")}
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((clusters, dim)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    basis = rng.standard_normal((16, dim)).astype(np.float32) / np.sqrt(16 * dim)  # low-rank within-cluster spread
    for s in range(0, rows, chunk_rows):
        b = min(chunk_rows, rows - s)
        emb = (centers[rng.integers(0, clusters, b)] + 4.0 * rng.standard_normal((b, 16)).astype(np.float32) @ basis
               + (0.1 / np.sqrt(dim)) * rng.standard_normal((b, dim)).astype(np.float32))
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
    """A complete synthetic artifact: ``synthetic_work`` + the real merge (``core.pipeline.partial.finalize``)."""
    from core.pipeline.partial import finalize

    coll, plan, state = synthetic_work(out, rows, units, dim, **kw)
    return finalize(out, plan, coll, state)


# ---------------------------------------------------------------- 1. throughput: local vs Ray engine

DEMO_ARCH_CONFIG = {  # scripts/train_demo_model.py's MODEL_CONFIG: the demo architecture with random weights
    "embed_dim": 128,
    "vision_cfg": {"image_size": 64, "layers": [1, 1, 1, 1], "width": 16, "patch_size": None},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 128, "heads": 4, "layers": 3},
}


def load_bench_model(model_id: str):
    """The demo model; while its weights are not built yet, the same architecture with random weights."""
    from core.errors import WeightsUnavailableError
    from core.model.loading import load_model, register_config

    try:
        return load_model(model_id)
    except WeightsUnavailableError:
        if model_id != "demo":
            raise
        register_config("demo-arch", DEMO_ARCH_CONFIG)
        print("note: demo weights missing; using the demo architecture with random weights (same speed)")
        return load_model("demo-arch/random")


def bench_throughput(loaded, n: int, tmp: Path, batch_size: int, chunk_rows: int) -> dict:
    import ray

    from core.pipeline.extract import run_extraction
    from core.pipeline.ray_engine import ensure_ray, run_extraction_ray

    imgs = make_images(tmp / "images", n)
    t0 = time.perf_counter()
    local = run_extraction(loaded, imgs, tmp / "local", batch_size=batch_size, chunk_rows=chunk_rows)  # default workers
    t_local = time.perf_counter() - t0
    t0 = time.perf_counter()
    ensure_ray(None)
    t_init = time.perf_counter() - t0
    cpus = int(ray.cluster_resources().get("CPU", 1))
    t0 = time.perf_counter()
    rayart = run_extraction_ray(loaded, imgs, tmp / "ray", batch_size=batch_size, chunk_rows=chunk_rows,
                                num_workers=cpus, cpus_per_worker=1)
    t_ray = time.perf_counter() - t0
    ray.shutdown()
    a, b = np.asarray(local.max, np.float32), np.asarray(rayart.max, np.float32)
    res = {"images": n, "local_s": round(t_local, 2), "local_img_s": round(n / t_local, 1),
           "ray_init_s": round(t_init, 2), "ray_actors": cpus, "ray_s": round(t_ray, 2),
           "ray_img_s": round(n / t_ray, 1), "ratio_ray_over_local": round(t_local / t_ray, 3),
           "identical_max_bytes": bool(np.array_equal(local.max, rayart.max)),
           "max_abs_diff": float(np.abs(a - b).max()), "torch_threads_local": __import__("torch").get_num_threads()}
    shutil.rmtree(imgs, ignore_errors=True)  # generated, not stored
    return res


# ---------------------------------------------------------------- 2. merge memory vs N, 3. index

def _child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def child_merge(out: str, rows: int, units: int, dim: int, chunk_rows: int, topk: int) -> dict:
    """In a fresh process: the shared finalize step over existing synthetic work files."""
    import open_clip  # noqa: F401  (imported by the manifest writer: not part of the merge's own memory)
    import PIL  # noqa: F401

    from core.pipeline.extract import PARTIAL_DIR
    from core.pipeline.partial import finalize

    out_p = Path(out)
    state = json.loads((out_p / PARTIAL_DIR / "state.json").read_text())
    coll, plan = synthetic_plan(out_p, rows, units, dim, chunk_rows, topk)
    assert state["plan"] == plan
    base = reset_peak_rss()
    t0 = time.perf_counter()
    art = finalize(out_p, plan, coll, state)
    return {"rows": art.rows, "merge_s": round(time.perf_counter() - t0, 2), "base_rss_mb": round(base, 1),
            "peak_rss_mb": round(peak_rss_mb(), 1), "added_mb": round(peak_rss_mb() - base, 1)}


def child_index(out: str, kind: str, queries: int, threads: int) -> dict:
    """In a fresh process: build one index kind from the artifact, save, load mmapped, time queries, recall."""
    import faiss

    from core.pipeline.index import EmbeddingIndex, build_index, load_index
    from core.pipeline.merge import build_pq_index, recall_at_k, recall_queries
    from core.pipeline.store import open_artifact

    faiss.omp_set_num_threads(threads)
    faiss.IndexFlatIP(4).search(np.zeros((1, 4), np.float32), 1)  # load faiss/OpenMP before the baseline
    art = open_artifact(out)
    q = recall_queries(art, queries)
    base = reset_peak_rss()
    t0 = time.perf_counter()
    if kind == "ivfpq":
        idx = build_pq_index(art)
        idx.save(art.path, artifact_manifest=art.manifest)
    else:
        idx = build_index(art, kind=kind)
    build_s = time.perf_counter() - t0
    build_added = peak_rss_mb() - base
    del idx
    idx = load_index(art)
    lat = []
    for v in q:
        t = time.perf_counter()
        idx.search(v[None], 10)
        lat.append(time.perf_counter() - t)
    assert isinstance(idx, EmbeddingIndex)
    return {"kind": kind, "factory": idx.meta.get("factory", idx.kind), "rows": idx.rows,
            "build_s": round(build_s, 2), "build_added_rss_mb": round(build_added, 1),
            "index_file_mb": round((art.path / "index.faiss").stat().st_size / 2**20, 2),
            "query_ms_median": round(1000 * float(np.median(lat)), 3), "query_ms_p95": round(1000 * float(np.quantile(lat, .95)), 3),
            "recall@10": round(recall_at_k(idx, art, k=10, queries=q), 4), "nprobe": idx.meta.get("nprobe"),
            "faiss_threads": threads}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--_merge":
        print(json.dumps(child_merge(argv[1], *map(int, argv[2:7]))))
        return 0
    if argv and argv[0] == "--_index":
        print(json.dumps(child_index(argv[1], argv[2], int(argv[3]), int(argv[4]))))
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="demo")
    p.add_argument("--images", type=int, default=10_000, help="throughput collection size (0: skip)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--chunk-rows", type=int, default=1024)
    p.add_argument("--merge-rows", type=int, nargs="*", default=[25_000, 50_000, 100_000])
    p.add_argument("--index-kinds", nargs="*", default=["flat", "ivf", "ivfpq"])
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--faiss-threads", type=int, default=1, help="OpenMP threads for index build/search "
                   "(1: on a shared, oversubscribed machine FAISS's spinning threads are several times slower)")
    p.add_argument("--topk", type=int, default=64)
    p.add_argument("--tmp", default=None, help="scratch folder (default: a temp dir, removed after)")
    p.add_argument("--json", default=None, help="also write the figures to this file")
    a = p.parse_args(argv)
    tmp = Path(a.tmp or tempfile.mkdtemp(prefix="bench-scaleout-"))
    tmp.mkdir(parents=True, exist_ok=True)
    figures: dict = {"machine": {"cpus": os.cpu_count()}}

    def dump():
        if a.json:
            Path(a.json).write_text(json.dumps(figures, indent=1))

    try:
        loaded = load_bench_model(a.model)
        from core.model.hooks import article_layer, resolve_layer
        from core.pipeline.plan import _probe

        shapes = _probe(loaded, resolve_layer(loaded, article_layer(loaded)))
        figures["model"] = {"id": loaded.id, "units": shapes["units"], "embed_dim": shapes["embed_dim"]}
        print("model", figures["model"], flush=True)
        if a.images:
            figures["throughput"] = bench_throughput(loaded, a.images, tmp / "tp", a.batch_size, a.chunk_rows)
            print("throughput", figures["throughput"], flush=True)
            dump()
        figures["merge"] = []
        for rows in a.merge_rows:
            out = tmp / f"merge-{rows}" / "art"
            t0 = time.perf_counter()
            synthetic_work(out, rows, shapes["units"], shapes["embed_dim"], chunk_rows=a.chunk_rows, topk=a.topk)
            gen = time.perf_counter() - t0
            res = _child(["--_merge", str(out), str(rows), str(shapes["units"]), str(shapes["embed_dim"]),
                          str(a.chunk_rows), str(a.topk)])
            res["synth_s"] = round(gen, 1)
            figures["merge"].append(res)
            print("merge", res, flush=True)
            dump()
        if a.merge_rows and a.index_kinds:
            out = tmp / f"merge-{a.merge_rows[-1]}" / "art"
            figures["index"] = []
            for kind in a.index_kinds:
                res = _child(["--_index", str(out), kind, str(a.queries), str(a.faiss_threads)])
                figures["index"].append(res)
                print("index", res, flush=True)
                dump()
    finally:
        if not a.tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    dump()
    return 0


if __name__ == "__main__":
    sys.exit(main())

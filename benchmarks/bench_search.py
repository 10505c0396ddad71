"""Search latency: text -> neurons (2,560 units of RN50x4) and FAISS exact vs IVF at several sizes.

1. Text -> neurons: ``core.analyses.search.text_to_neurons`` on RN50x4 (random init: the same shapes and text
   tower as the real weights) after warm-up; p50/p90 over distinct queries. Target p50 < 20 ms on CPU. The default path
   (int8 text tower, ``core.model.fast_text``) and ``exact=True`` (float32) run interleaved in one loop.
2. Image kNN: IndexFlatIP vs IndexIVFFlat (nlist = 4*sqrt(N), default nprobe) over clustered synthetic
   640-d embeddings; per-query latency and recall@10 against exact search, to place ``APPROX_THRESHOLD``.

    python benchmarks/bench_search.py [--sizes 10000 50000 100000] [--skip-text]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

WORDS = ("spider", "a photo of a cat", "Barack Obama", "the Eiffel tower", "happy", "a red car", "christmas tree",
         "sunset over the sea", "text that says stop", "a bowl of soup", "lion", "guitar", "rainbow flag", "snow",
         "a painting of a dog", "pizza", "New York City", "surprised face", "mountain", "birthday cake")


def text_latency(model_id: str) -> None:
    """p50 of text -> neurons with the default (int8 text tower on CPU) and with ``exact=True`` (float32),
    interleaved query by query so load drift hits both alike; plus how well the two rankings agree."""
    from core.analyses.search import text_to_neurons
    from core.model import fast_text
    from core.model.embed import encode_text
    from core.model.loading import load_model

    loaded = load_model(model_id)
    t0 = time.perf_counter()
    tower = fast_text.text_tower(loaded)
    build_s = time.perf_counter() - t0
    for w in WORDS[:3]:  # warm-up (also caches the unit directions)
        text_to_neurons(loaded, w), text_to_neurons(loaded, w, exact=True)
    fast, exact, overlap = [], [], []
    for _ in range(3):
        for w in WORDS:
            t0 = time.perf_counter()
            df = text_to_neurons(loaded, w, top=10)
            fast.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            ref = text_to_neurons(loaded, w, top=10, exact=True)
            exact.append((time.perf_counter() - t0) * 1000)
            overlap.append(len(set(df["unit"]) & set(ref["unit"])) / 10)
    cos = (encode_text(loaded, list(WORDS), fast=True) * encode_text(loaded, list(WORDS))).sum(1)
    units = loaded.model.visual.attnpool.v_proj.weight.shape[1]
    p50, p50_exact = statistics.median(fast), statistics.median(exact)
    path = "int8 text tower" if tower is not None else "float32 (no int8 tower for this model)"
    print(f"text -> neurons, {model_id}, {units} units, {torch.get_num_threads()} threads, {len(fast)} queries: "
          f"p50 {p50:.1f} ms ({path}; built once in {build_s:.1f} s), p90 {sorted(fast)[int(0.9 * len(fast))]:.1f} ms; "
          f"exact float32: p50 {p50_exact:.1f} ms; speed-up {p50_exact / p50:.2f}x; "
          f"top-10 units shared with float32: mean {statistics.mean(overlap):.0%}, min {min(overlap):.0%}; "
          f"embedding cosine to float32: min {float(cos.min()):.4f}")


def clustered(n: int, d: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(256, d)).astype(np.float32)
    x = centers[rng.integers(0, 256, n)] + 0.6 * rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def knn(sizes: list[int], d: int = 640, queries: int = 200) -> None:
    import numpy as np

    from core.pipeline.index import APPROX_THRESHOLD, EmbeddingIndex

    print(f"\nimage kNN, D={d}, top-10, one query at a time (APPROX_THRESHOLD now {APPROX_THRESHOLD})")
    print("     N   flat ms/query   ivf ms/query   ivf recall@10   ivf build s")
    for n in sizes:
        x = clustered(n, d)
        q = clustered(queries, d, seed=1)
        flat = EmbeddingIndex.build(x, kind="flat")
        t0 = time.perf_counter()
        ivf = EmbeddingIndex.build(x, kind="ivf")
        build = time.perf_counter() - t0
        res = {}
        for name, idx in (("flat", flat), ("ivf", ivf)):
            idx.search(q[:5], 10)
            t0 = time.perf_counter()
            rows = np.concatenate([idx.search(q[i:i + 1], 10)[1] for i in range(queries)])
            res[name] = ((time.perf_counter() - t0) * 1000 / queries, rows)
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(res["flat"][1], res["ivf"][1])])
        print(f"{n:>6}   {res['flat'][0]:>13.2f}   {res['ivf'][0]:>12.2f}   {recall:>13.3f}   {build:>11.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="RN50x4/random")
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 100_000])
    ap.add_argument("--skip-text", action="store_true")
    ap.add_argument("--skip-knn", action="store_true")
    args = ap.parse_args()
    if not args.skip_text:
        text_latency(args.model)
    if not args.skip_knn:
        knn(args.sizes)


if __name__ == "__main__":
    main()

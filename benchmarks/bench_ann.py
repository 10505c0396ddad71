"""Approximate search at a million images: recall@10 against exact search, p50 latency, build time, peak RSS.

Generates clustered, L2-normalised float16 embeddings (written in chunks to ``emb.f16.npy``, as an artifact
holds them), computes the exact top-10 of held-out queries by streaming that file, then builds each index kind in
its own process (so its peak RSS is its own) and sweeps its search parameters, one query at a time on
``--threads`` threads:

- ``ivfflat``: IVF-Flat (the previous ``auto`` above 50k rows), no re-ranking;
- ``ivfpq``: IVF-PQ (``EmbeddingIndex.build(kind="ivfpq")``, what ``auto`` builds now) whose shortlist is
  re-scored exactly against the memory-mapped float16 embeddings; ``ivfpq64`` the same with 64-byte codes;
- ``ivfsq8``: IVF with 8-bit scalar-quantised vectors, re-ranked the same way.

HNSW is not in the list: on a 2-core machine its build at 1M x 640 takes far longer than these.

    nice -n 10 .venv/bin/python benchmarks/bench_ann.py --rows 1000000 --dim 640 --dir /tmp/ann1m \
        --json /tmp/ann1m.json > /tmp/ann1m.log 2>&1 &
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHUNK = 50_000
SWEEP = {"ivfflat": [(p, 0) for p in (32, 64, 125)],
         "ivfpq": [(p, r) for p in (32, 64, 125, 250) for r in (0, 100, 200, 400)],
         "ivfpq64": [(p, r) for p in (64, 125, 250) for r in (200, 400)],
         "ivfsq8": [(p, r) for p in (32, 64, 125, 250) for r in (0, 100)]}


def generate(path: Path, rows: int, dim: int, centers: int, seed: int = 0) -> np.ndarray:
    """Write (rows, dim) clustered normalised float16 embeddings in chunks; return 200 held-out queries."""
    rng = np.random.default_rng(seed)
    cent = rng.normal(size=(centers, dim)).astype(np.float32)
    cent /= np.linalg.norm(cent, axis=1, keepdims=True)

    def draw(n: int, r) -> np.ndarray:
        x = cent[r.integers(0, centers, n)] + r.normal(scale=1.0 / np.sqrt(dim), size=(n, dim)).astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    if not path.is_file():
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(rows, dim))
        for s in range(0, rows, CHUNK):
            out[s:s + CHUNK] = draw(min(CHUNK, rows - s), np.random.default_rng(seed + 1 + s // CHUNK))
        out.flush()
        del out
    return draw(200, np.random.default_rng(seed + 10_000_000)).astype(np.float32)


def exact_top(emb: np.ndarray, q: np.ndarray, k: int = 10) -> np.ndarray:
    best_s = np.full((len(q), 0), -np.inf, np.float32)
    best_r = np.zeros((len(q), 0), np.int64)
    for s in range(0, len(emb), CHUNK):
        blk = np.asarray(emb[s:s + CHUNK], dtype=np.float32)
        blk /= np.linalg.norm(blk, axis=1, keepdims=True)
        sc = q @ blk.T
        cs, cr = np.concatenate([best_s, sc], 1), np.concatenate([best_r, np.broadcast_to(
            np.arange(s, s + len(blk)), sc.shape)], 1)
        order = np.lexsort((cr, -cs))[:, :k]
        best_s, best_r = np.take_along_axis(cs, order, 1), np.take_along_axis(cr, order, 1)
    return best_r


def _memory() -> dict:
    """Peak resident memory of this process (VmHWM: anonymous + mapped file pages, e.g. the float16 embeddings
    read while building) and, now, its anonymous part (RssAnon: what the index itself holds), in MB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {k: round(int(fields[f].split()[0]) / 1024) for k, f in (("peak_rss_mb", "VmHWM"),
                                                                      ("anon_rss_mb", "RssAnon"),
                                                                      ("file_rss_mb", "RssFile"))}


def run_one(kind: str, directory: Path, threads: int, reuse: bool = False) -> dict:
    import faiss

    from core.pipeline.index import EmbeddingIndex, default_nprobe, pq_factory

    faiss.omp_set_num_threads(threads)
    emb = np.load(directory / "emb.f16.npy", mmap_mode="r")
    q, truth = np.load(directory / "queries.npy"), np.load(directory / "truth.npy")
    n, d = emb.shape
    _, nlist, _ = pq_factory(n, d)
    t0 = time.perf_counter()
    if reuse and (directory / kind / "index.faiss").is_file():  # sweep a saved index again
        idx = EmbeddingIndex.load(directory / kind)
        idx.attach(emb if idx.meta.get("rerank") else None)
    elif kind == "ivfflat":
        idx = EmbeddingIndex.build(emb, kind="ivf", nlist=nlist)
    elif kind in ("ivfpq", "ivfpq64"):
        idx = EmbeddingIndex.build(emb, kind="ivfpq", m=64 if kind == "ivfpq64" else None)
    else:
        from core.pipeline.index import _normalised

        index = faiss.index_factory(d, f"IVF{nlist},SQ8", faiss.METRIC_INNER_PRODUCT)
        train = min(n, 39 * nlist)
        index.train(_normalised(np.asarray(emb[np.linspace(0, n - 1, train).astype(np.int64)])))
        for s in range(0, n, 16_384):
            index.add(_normalised(emb[s:s + 16_384]))
        idx = EmbeddingIndex(index, {"kind": "ivf", "index": "ivfsq8", "nlist": nlist,
                                     "nprobe": default_nprobe(nlist), "rerank": 100}).attach(emb)
    build_s = time.perf_counter() - t0
    mem = _memory()  # after the build: the index and what the build kept
    (directory / kind).mkdir(exist_ok=True)
    idx.save(directory / kind)
    size_mb = (directory / kind / "index.faiss").stat().st_size / 2**20
    rows = []
    for nprobe, rerank in SWEEP[kind]:
        if nprobe > nlist:
            continue
        for qi in q[:20]:  # warm the lists and the embedding pages
            idx.search(qi, 10, nprobe=nprobe, rerank=rerank)
        lat, got = [], []
        for qi in q:
            t = time.perf_counter()
            got.append(idx.search(qi, 10, nprobe=nprobe, rerank=rerank)[1][0])
            lat.append((time.perf_counter() - t) * 1000)
        recall = float(np.mean([len(set(a.tolist()) & set(e.tolist())) / 10 for a, e in zip(got, truth)]))
        rows.append({"nprobe": nprobe, "rerank": rerank, "recall@10": round(recall, 4),
                     "p50_ms": round(float(np.median(lat)), 2), "p95_ms": round(float(np.percentile(lat, 95)), 2)})
        print(f"  {kind} nprobe={nprobe} rerank={rerank}: recall@10 {recall:.3f}, p50 {np.median(lat):.2f} ms",
              file=sys.stderr, flush=True)
    return {"kind": kind, "factory": idx.meta.get("factory", idx.meta.get("index")), "nlist": nlist,
            "build_s": None if reuse else round(build_s, 1), **mem, "file_mb": round(size_mb, 1),
            "sweep": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=640)
    ap.add_argument("--centers", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--kinds", nargs="+", default=["ivfpq", "ivfsq8", "ivfpq64", "ivfflat"])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/bench_ann"))
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--one", default=None, help="run one kind on an existing --dir (prints its JSON)")
    ap.add_argument("--reuse", action="store_true", help="with --one: sweep the index saved by an earlier run")
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.dir, args.threads, args.reuse)))
        return
    args.dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    q = generate(args.dir / "emb.f16.npy", args.rows, args.dim, args.centers)
    gen_s = time.perf_counter() - t0
    emb = np.load(args.dir / "emb.f16.npy", mmap_mode="r")
    assert emb.shape == (args.rows, args.dim), f"{args.dir} holds {emb.shape}; use another --dir"
    t0 = time.perf_counter()
    np.save(args.dir / "queries.npy", q)
    np.save(args.dir / "truth.npy", exact_top(emb, q))
    exact_s = time.perf_counter() - t0
    print(f"{args.rows} x {args.dim}: generated in {gen_s:.0f} s, exact top-10 of 200 queries (streamed) in "
          f"{exact_s:.0f} s", file=sys.stderr, flush=True)
    report = {"rows": args.rows, "dim": args.dim, "centers": args.centers, "threads": args.threads, "queries": 200,
              "exact_stream_s_per_200": round(exact_s, 1), "kinds": []}
    for kind in args.kinds:
        out = subprocess.run([sys.executable, __file__, "--one", kind, "--dir", str(args.dir),
                              "--threads", str(args.threads)], capture_output=True, text=True)
        sys.stderr.write(out.stderr[-3000:])
        if out.returncode:
            print(f"{kind} failed (rc {out.returncode})", file=sys.stderr)
            continue
        res = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{kind}: build {res['build_s']} s, peak RSS {res['peak_rss_mb']} MB (anon {res['anon_rss_mb']} MB), "
              f"file {res['file_mb']} MB",
              file=sys.stderr, flush=True)
        report["kinds"].append(res)
        if args.json:
            args.json.write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

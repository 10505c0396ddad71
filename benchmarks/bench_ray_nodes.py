"""A Ray cluster of 1, 2 and 4 worker nodes on this machine, and one that loses a node mid-run.

For each N a fresh cluster (``benchmarks/local_cluster.py``: a head with no CPUs and N separate ``ray start``
worker nodes of 1 CPU each, loopback only) indexes the same generated collection with ``--ray-workers N``;
images/s and the ratio to N = 1 are reported. Then N + 1 nodes, N actors, and the raylet of a node running an
actor plus every process under it get SIGKILL once ``--kill-after`` chunks are committed. Every Ray artifact
is compared file by file with a local run at the same batch size, chunking and torch thread count (1).

    nice -n 10 .venv/bin/python benchmarks/bench_ray_nodes.py --images 2000 --json /tmp/nodes.json \
        > /tmp/nodes.log 2>&1 &
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from bench_scaleout import load_bench_model, make_images  # noqa: E402
from local_cluster import DRIVER_ENV, LocalCluster  # noqa: E402

RUN_STAMPS = ("created", "run_id")


def differing_files(a: Path, b: Path) -> list[str]:
    """Files whose bytes differ (manifest and index metadata: all but the per-run stamps)."""
    names = sorted({p.name for p in a.iterdir()} | {p.name for p in b.iterdir()})
    bad = []
    for name in names:
        if not (a / name).is_file() or not (b / name).is_file():
            bad.append(name)
        elif name in ("manifest.json", "index.json"):
            ma, mb = (json.loads((d / name).read_text()) for d in (a, b))
            for m in (ma, mb):
                for k in RUN_STAMPS:
                    m.pop(k, None)
                    m.get("artifact", {}).pop(k, None)
            bad += [name] if ma != mb else []
        elif (a / name).read_bytes() != (b / name).read_bytes():
            bad.append(name)
    return bad


def ray_run(loaded, images: Path, out: Path, nodes: int, actors: int, args, kill_after: int | None = None) -> dict:
    from core.pipeline.extract import PARTIAL_DIR
    from core.pipeline.index import ensure_index
    from core.pipeline.ray_engine import run_extraction_ray

    t_up = time.perf_counter()
    with LocalCluster(workers=nodes) as cluster:
        up_s = time.perf_counter() - t_up
        seen: dict = {}

        def killer():
            while "pids" not in seen:
                try:
                    done = json.loads((out / PARTIAL_DIR / "state.json").read_text())["done"]
                except (OSError, ValueError, KeyError):
                    done = []
                node = cluster.busy_node() if len(done) >= kill_after else None
                if node:
                    seen.update(done=len(done), node=node, t=time.perf_counter(), pids=cluster.kill_node(node))
                time.sleep(0.05)

        if kill_after is not None:
            threading.Thread(target=killer, daemon=True).start()
        t0 = time.perf_counter()
        art = run_extraction_ray(loaded, images, out, batch_size=args.batch_size, chunk_rows=args.chunk_rows,
                                 topk=args.topk, address=cluster.address, num_workers=actors)
        secs = time.perf_counter() - t0
        seen.setdefault("pids", None)
    ensure_index(art)
    res = {"nodes": nodes, "actors": actors, "cluster_up_s": round(up_s, 1), "seconds": round(secs, 2),
           "img_per_s": round(art.rows / secs, 1)}
    if kill_after is not None:
        res.update(killed_node=seen.get("node"), killed_after_chunks=seen.get("done"),
                   killed_processes=len(seen.get("pids") or []),
                   killed_at_s=round(seen["t"] - t0, 2) if "t" in seen else None)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--model", default="demo")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--chunk-rows", type=int, default=64)
    ap.add_argument("--topk", type=int, default=16)
    ap.add_argument("--kill-after", type=int, default=3, help="committed chunks before the node kill")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    os.environ.update(DRIVER_ENV)
    os.environ.pop("RAY_ADDRESS", None)
    import torch

    from core.pipeline.extract import run_extraction
    from core.pipeline.index import ensure_index

    loaded = load_bench_model(args.model)
    tmp = Path(tempfile.mkdtemp(prefix="bench_nodes_"))
    report: dict = {"images": args.images, "model": str(loaded.spec), "batch_size": args.batch_size,
                    "chunk_rows": args.chunk_rows, "cpus": os.cpu_count(), "runs": []}
    try:
        images = make_images(tmp / "images", args.images)
        torch.set_num_threads(1)  # what a 1-CPU Ray actor uses: same threads, same bytes
        t0 = time.perf_counter()
        local = run_extraction(loaded, images, tmp / "local", batch_size=args.batch_size, workers=0,
                               chunk_rows=args.chunk_rows, topk=args.topk)
        secs = time.perf_counter() - t0
        ensure_index(local)
        report["local_1_thread"] = {"seconds": round(secs, 2), "img_per_s": round(local.rows / secs, 1)}
        print(f"local (1 thread): {report['local_1_thread']}", file=sys.stderr, flush=True)
        plans = [(n, n, None) for n in args.workers] + [(max(args.workers) + 1, max(args.workers), args.kill_after)]
        for nodes, actors, kill in plans:
            out = tmp / f"ray{nodes}{'k' if kill is not None else ''}"
            res = ray_run(loaded, images, out, nodes, actors, args, kill)
            res["differing_files"] = differing_files(local.path, out)
            base = report["runs"][0]["img_per_s"] if report["runs"] else res["img_per_s"]
            res["ratio_to_1"] = round(res["img_per_s"] / base, 2)
            report["runs"].append(res)
            print(json.dumps(res), file=sys.stderr, flush=True)
            shutil.rmtree(out, ignore_errors=True)
            if args.json:
                args.json.write_text(json.dumps(report, indent=1))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

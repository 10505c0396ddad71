"""Peak RSS of extraction vs collection size: it must not grow with the number of images.

Each size runs in a fresh subprocess (ru_maxrss is a high-water mark). The model is "bench-rn": a
ModifiedResNet CLIP config with the article's row width (2,560 units at layer4, embed 640; 1-1-1-1
blocks, 32 px, random init) so every row costs what an RN50x4 row costs on disk, while the forward
stays cheap. Images are small generated PNGs in a temp dir.

    python benchmarks/bench_memory.py [--sizes 5000 10000 20000] [--workers 2]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BENCH_RN = {"embed_dim": 640, "vision_cfg": {"image_size": 32, "layers": [1, 1, 1, 1], "width": 80,
                                             "patch_size": None},
            "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


def make_images(root: Path, n: int) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        d = root / f"c{i % 10}"
        d.mkdir(exist_ok=True)
        p = d / f"{i:06d}.png"
        if not p.exists():
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(p)


def child(images: str, n: int, out: str, workers: int) -> None:
    import csv

    from core.model.loading import load_model, register_config
    from core.pipeline.extract import run_extraction

    register_config("bench-rn", BENCH_RN)
    loaded = load_model("bench-rn/random")
    keys = sorted(str(p.relative_to(images)) for p in Path(images).rglob("*.png"))[:n]
    table = Path(images) / f"first{n}.csv"
    with open(table, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path"])
        w.writerows([k] for k in keys)
    t0 = time.perf_counter()
    art = run_extraction(loaded, table, out, batch_size=64, workers=workers, overwrite=True)
    secs = time.perf_counter() - t0
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    size = sum(f.stat().st_size for f in Path(out).iterdir() if f.is_file()) / 2**20
    print(json.dumps({"images": art.rows, "peak_rss_mb": round(me, 1), "worker_peak_rss_mb": round(kids, 1),
                      "artifact_mb": round(size, 1), "seconds": round(secs, 1)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[5000, 10000, 20000])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tmp", default=None, help="work dir (default: a temp dir)")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child[0], int(args.child[1]), args.child[2], args.workers)
    tmp = Path(args.tmp or tempfile.mkdtemp(prefix="bench_memory_"))
    make_images(tmp / "images", max(args.sizes))
    rows = []
    for n in args.sizes:
        res = subprocess.run([sys.executable, __file__, "--workers", str(args.workers), "--child",
                              str(tmp / "images"), str(n), str(tmp / f"art{n}")],
                             capture_output=True, text=True, env=dict(os.environ, HF_HUB_OFFLINE="1"))
        if res.returncode:
            sys.exit(res.stderr)
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    base = rows[0]["peak_rss_mb"]
    print("\nimages  peak RSS (MB)  ratio to smallest  artifact on disk (MB)  img/s")
    for r in rows:
        print(f"{r['images']:>6}  {r['peak_rss_mb']:>13.0f}  {r['peak_rss_mb'] / base:>17.2f}  "
              f"{r['artifact_mb']:>21.0f}  {r['images'] / r['seconds']:>5.0f}")


if __name__ == "__main__":
    main()

"""Extraction throughput as a ratio to the bare model forward on pre-decoded tensors, measured in one run.

Both sides use the same model, images and batch size: "bare" times ``model.encode_image`` on tensors that
were decoded and preprocessed beforehand (no hooks, no I/O); "extract" times ``run_extraction`` on the
image files (DataLoader decoding, hooked forward, reductions, row writes, finalize). Target >= 0.85 on
2 CPU cores.

    python benchmarks/bench_extract.py [--model RN50/random] [--images 96] [--workers 0 1 2]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def make_jpegs(root: Path, n: int, size: int = 320) -> None:
    """Photo-sized JPEGs (smooth gradients + noise) so decoding costs what real photos cost."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(n):
        d = root / f"c{i % 4}"
        d.mkdir(parents=True, exist_ok=True)
        base = (np.sin(xx / (7 + i % 13)) + np.cos(yy / (5 + i % 7)))[..., None] * 60 + 128
        arr = np.clip(base + rng.normal(0, 20, (size, size, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(arr).save(d / f"{i:05d}.jpg", quality=90)


def bare_forward(loaded, tensors, batch_size: int) -> float:
    import torch

    with torch.inference_mode():
        loaded.model.encode_image(tensors[:batch_size])  # warm-up
        t0 = time.perf_counter()
        for s in range(0, len(tensors), batch_size):
            loaded.model.encode_image(tensors[s:s + batch_size])
    return len(tensors) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="RN50/random")
    ap.add_argument("--images", type=int, default=96)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--tiny", action="store_true", help="register the test suite's tiny configs first")
    args = ap.parse_args()
    import torch

    from core.model.loading import load_model
    from core.pipeline.extract import run_extraction
    from core.pipeline.images import open_image

    if args.tiny:
        from tests.conftest import register_tiny_configs

        register_tiny_configs()
    loaded = load_model(args.model)
    tmp = Path(tempfile.mkdtemp(prefix="bench_extract_"))
    try:
        make_jpegs(tmp / "images", args.images)
        files = sorted((tmp / "images").rglob("*.jpg"))
        tensors = torch.stack([loaded.preprocess(open_image(f)) for f in files])
        print(f"model {args.model} ({loaded.image_size} px), {args.images} JPEGs 320 px, batch {args.batch_size}, "
              f"torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}")
        for workers in args.workers:
            bare1 = bare_forward(loaded, tensors, args.batch_size)
            t0 = time.perf_counter()
            run_extraction(loaded, tmp / "images", tmp / f"art{workers}", batch_size=args.batch_size,
                           workers=workers, overwrite=True)
            ext = args.images / (time.perf_counter() - t0)
            bare2 = bare_forward(loaded, tensors, args.batch_size)
            bare = (bare1 + bare2) / 2  # bracket the extraction: load drift hits both sides alike
            print(f"workers={workers}: extraction {ext:7.1f} img/s, bare forward {bare:7.1f} img/s, "
                  f"ratio {ext / bare:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Word-vocabulary scoring speed: the whole shipped vocabulary through a model, target < 60 s (demo).

Usage: ``.venv/bin/python benchmarks/bench_words.py [--model demo] [--threads 2] [--words N]``

Times, side by side in one run and in a scratch artifacts folder (no cache hit):
  * rasterising every word in every rendering variant (PIL only);
  * the full ``core.analyses.words.word_activations`` (raster + forward + per-unit spatial max + chunked save);
  * a second call (served from the on-disk cache).
Prints the figures and the ratio of the full scoring time to the 60 s target.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

TARGET_S = 60.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="demo")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--words", type=int, default=None, help="only the first N words (default: all)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    os.environ["CLIP_EXPLORER_ARTIFACTS"] = tempfile.mkdtemp(prefix="bench-words-")
    from core.analyses import words as W
    from core.model.loading import load_model

    loaded = load_model(args.model)
    vocab = W.load_vocabulary()[: args.words] if args.words else W.load_vocabulary()
    t0 = time.perf_counter()
    for w in vocab:
        for font, scale in W.VARIANTS:
            W.raster_word(w, loaded.image_size, font=font, scale=scale)
    raster_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    table = W.word_activations(loaded, words=vocab)
    full_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    W.word_activations(loaded, words=vocab)
    cached_s = time.perf_counter() - t0
    n_img = len(vocab) * len(W.VARIANTS)
    print(f"model {args.model} ({loaded.image_size}px), {args.threads} threads, {len(vocab)} words x "
          f"{len(W.VARIANTS)} renderings = {n_img} images, layer {table.layer} ({table.acts.shape[1]} units)")
    print(f"rasterise only      {raster_s:8.2f} s  ({n_img / raster_s:7.0f} img/s)")
    print(f"score vocabulary    {full_s:8.2f} s  ({n_img / full_s:7.0f} img/s)  raster share {raster_s / full_s:.2f}")
    print(f"cached re-read      {cached_s:8.3f} s  (cached/full {cached_s / full_s:.4f})")
    print(f"full / target {TARGET_S:.0f} s = {full_s / TARGET_S:.2f}  ({'meets' if full_s < TARGET_S else 'misses'} target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

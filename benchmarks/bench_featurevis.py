"""Feature-visualization speed: render steps per second and one render step / one bare forward+backward.

Usage: ``.venv/bin/python benchmarks/bench_featurevis.py [--models demo RN50x4/random] [--steps 8] [--threads 2]``

For each model both are measured side by side in one run, batch 1 at the model's input size:
  * bare: ``model.visual(x)`` on a (1, 3, S, S) input that requires grad, ``.sum().backward()``;
  * render: ``core.featurevis.render`` on the article layer's unit 0 (Fourier parametrization, the
    standard transforms, Adam), per step.
The target is render/bare <= 1.1. Each figure is the median of ``--repeats`` timed runs.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _bare_step(loaded, steps: int) -> float:
    import torch

    x = torch.rand(1, 3, loaded.image_size, loaded.image_size, requires_grad=True)
    t0 = time.perf_counter()
    for _ in range(steps):
        x.grad = None
        loaded.model.visual(x).sum().backward()
    return (time.perf_counter() - t0) / steps


def _render_step(loaded, steps: int, facet: str | None = None) -> float:
    from core.featurevis import channel, render
    from core.featurevis.facets import faceted_objective
    from core.model.hooks import article_layer

    obj = channel(article_layer(loaded), 0)
    if facet:
        obj = faceted_objective(loaded, obj, facet)
    t0 = time.perf_counter()
    render(loaded, obj, steps=steps, seed=0)
    return (time.perf_counter() - t0) / steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["demo", "RN50x4/random"])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    import torch

    from core.model.loading import load_model

    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, batch 1, {args.steps} steps x {args.repeats} repeats")
    print(f"{'model':<16} {'size':>4} {'bare f+b s':>11} {'render step s':>14} {'steps/s':>8} {'ratio':>6}")
    for model_id in args.models:
        loaded = load_model(model_id)
        _bare_step(loaded, 2), _render_step(loaded, 2)  # warm-up
        bare, step = [], []
        for _ in range(args.repeats):  # interleaved, so load changes hit both alike
            bare.append(_bare_step(loaded, args.steps))
            step.append(_render_step(loaded, args.steps))
        b, s = statistics.median(bare), statistics.median(step)
        print(f"{model_id:<16} {loaded.image_size:>4} {b:>11.4f} {s:>14.4f} {1 / s:>8.2f} {s / b:>6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Evaluate a candidate demo model (a training run's output or its last checkpoint) with ``eval-demo``.

    python scripts/eval_candidate.py artifacts/demo_s3a/out              # config.json + weights.safetensors
    python scripts/eval_candidate.py artifacts/demo_s3a/checkpoint.pt    # a running job's last checkpoint
    python scripts/eval_candidate.py DIR --json --out metrics.json

Prints the issue's figures in one line (attack success vs the neutral word, multimodal units, neuron search,
reading, zero-shot top-1), the held-out evaluation of ``python -m core eval-demo`` run on those weights.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def summary(m: dict) -> str:
    att = m["typographic_attack"]
    return (f"attack {att['value']:.3f} (flips {att['flip_rate']:.3f}, neutral flips {att['control_flip_rate']:.3f}, "
            f"cover {att['pixel_cover']:.3f}) | multimodal {m['multimodal_units']['value']}/16 | "
            f"search {m['neuron_search']['value']}/16 | reading {m['reading']['value']:.3f} | "
            f"top-1 {m['zero_shot_top1']['value']:.3f} | top-5 {m['zero_shot_top5']['value']:.3f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", help="a folder with config.json + weights.safetensors, or a checkpoint.pt")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    import torch
    from safetensors.torch import save_file

    from core import config
    from core.analyses.evaluate import evaluate
    from core.model.loading import load_model

    src = Path(args.weights)
    with tempfile.TemporaryDirectory() as tmp:
        if src.suffix == ".pt":  # a training checkpoint: export its model like the script's export()
            sys.path.insert(0, str(REPO / "scripts"))
            from train_demo_model import model_config

            ckpt = torch.load(src, map_location="cpu", weights_only=False)
            state = ckpt["model"]
            size = ckpt["args"].get("image_size", 64)
            (Path(tmp) / "config.json").write_text(json.dumps(model_config(size)))
            save_file({k: v.to(torch.float16).contiguous() for k, v in state.items()},
                      str(Path(tmp) / "weights.safetensors"))
            src = Path(tmp)
        config.DEMO_MODEL_DIR = src
        m = evaluate(load_model("demo"))
    m["weights"] = str(args.weights)
    if args.out:
        Path(args.out).write_text(json.dumps(m, indent=2) + "\n")
    print(json.dumps(m, indent=2) if args.json else summary(m))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Start-up time of ``python -m core`` commands against the interpreter and ``import torch`` floors.

Each command runs in a fresh interpreter ``--repeat`` times (best time kept: the least disturbed by other
load on the machine). ``models``, ``--help`` and ``layers`` must not import torch: ``layers`` answers the demo from
its shipped table, ``ARCH/random`` (and ``ARCH/TAG`` with local weights) from open_clip's config of the
architecture, so their floor is the interpreter's start, not ``import torch``; so does a checkpoint file whose
tensor shapes are read without torch (safetensors, a torch.save zip) and fit its ``--arch``. Any other file's first
listing loads it (floor: ``import torch`` + ``import open_clip`` + reading and building the model) and remembers its
table under ``<artifacts>/layers/``; later listings answer from that without torch. The file cases use a ViT-S-32
state dict with seeded random weights (a zip, and torch's legacy format), in a temporary artifacts folder: "first"
with an empty one on every run, "remembered" after one listing.

    python benchmarks/bench_cli_start.py [--repeat 5]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OTHER = ["-m", "core", "layers", "--model", "ViT-S-32/random"]
CASES = {  # name: (arguments, artifacts folder: None = the settings', "fresh" = empty per run, "warm" = listed once)
    "python -c pass": (["-c", "pass"], None),
    "import torch": (["-c", "import torch"], None),
    "import torch, open_clip": (["-c", "import torch, open_clip"], None),
    "core --help": (["-m", "core", "--help"], None),
    "core models": (["-m", "core", "models"], None),
    "core models --json": (["-m", "core", "models", "--json"], None),
    "core layers (demo)": (["-m", "core", "layers"], None),
    "core layers --json (demo)": (["-m", "core", "layers", "--json"], None),
    "core layers --model ''": (["-m", "core", "layers", "--model", ""], None),  # an error before any model import
    "layers ViT-S-32/random": (OTHER, "fresh"),  # derived from open_clip's config
    "layers RN50x4/random": (["-m", "core", "layers", "--model", "RN50x4/random"], "fresh"),
    "layers FILE (zip), first": (["FILE"], "fresh"),  # shapes read without torch, fit the config: derived
    "layers FILE (legacy), first": (["LEGACY"], "fresh"),  # torch's legacy format: loaded the first time
    "layers FILE (legacy), remembered": (["LEGACY"], "warm"),
}
FILE_ARGS = ["-m", "core", "layers", "--arch", "ViT-S-32", "--checkpoint"]


def checkpoints(folder: Path) -> dict[str, str]:
    """A ViT-S-32 state dict with seeded random weights, saved as a torch.save zip and in torch's legacy format."""
    import open_clip
    import torch

    torch.manual_seed(0)
    state = open_clip.create_model("ViT-S-32", pretrained=None).state_dict()
    paths = {"FILE": folder / "vit-s-32.pt", "LEGACY": folder / "vit-s-32-legacy.pt"}
    torch.save(state, paths["FILE"])
    torch.save(state, paths["LEGACY"], _use_new_zipfile_serialization=False)
    return {k: str(v) for k, v in paths.items()}


def run_once(args: list[str], artifacts: str | None) -> float:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    env.pop("CLIP_EXPLORER_DEVICE", None)
    if artifacts is not None:
        env["CLIP_EXPLORER_ARTIFACTS"] = artifacts
    t = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t


def best_time(args: list[str], folder: str | None, repeat: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        if folder == "warm":
            run_once(args, tmp)  # the first listing, which remembers the table
        best = float("inf")
        for i in range(repeat):
            artifacts = None if folder is None else tmp if folder == "warm" else f"{tmp}/run{i}"
            best = min(best, run_once(args, artifacts))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = checkpoints(Path(tmp))
        times = {name: best_time(FILE_ARGS + [files[a[0]]] if a[0] in files else a, folder, args.repeat)
                 for name, (a, folder) in CASES.items()}
    base, torch_t = times["python -c pass"], times["import torch"]
    print(f"{'command':<30}{'seconds':>9}{'x python':>10}{'x torch':>9}")
    for name, t in times.items():
        print(f"{name:<30}{t:>9.3f}{t / base:>10.1f}{t / torch_t:>9.2f}")


if __name__ == "__main__":
    main()

"""Start-up time of ``python -m core`` commands against the interpreter and ``import torch`` floors.

Each command runs in a fresh interpreter ``--repeat`` times (best time kept: the least disturbed by other
load on the machine). ``models`` and ``--help`` must not import torch; ``layers`` must load the demo model,
so ``import torch`` + ``import open_clip`` is its floor.

    python benchmarks/bench_cli_start.py [--repeat 5]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = {
    "python -c pass": ["-c", "pass"],
    "import torch": ["-c", "import torch"],
    "import torch, open_clip": ["-c", "import torch, open_clip"],
    "core --help": ["-m", "core", "--help"],
    "core models": ["-m", "core", "models"],
    "core models --json": ["-m", "core", "models", "--json"],
    "core layers (demo)": ["-m", "core", "layers"],
    "core layers --model ''": ["-m", "core", "layers", "--model", ""],  # an error before any model import
}


def best_time(args: list[str], repeat: int) -> float:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    times = {name: best_time(a, args.repeat) for name, a in CASES.items()}
    base, torch_t = times["python -c pass"], times["import torch"]
    print(f"{'command':<28}{'seconds':>9}{'x python':>10}{'x torch':>9}")
    for name, t in times.items():
        print(f"{name:<28}{t:>9.3f}{t / base:>10.1f}{t / torch_t:>9.2f}")


if __name__ == "__main__":
    main()

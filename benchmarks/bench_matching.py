"""Time and peak RSS of matching two RN50x4-sized artifacts (2,560 x 2,560 units) over N images.

Writes two synthetic (N, 2560) float16 arrays (the artifact's ``max.f16.npy`` layout; B is A with its units
permuted plus noise) into a temp dir, then, in a fresh subprocess (ru_maxrss is a high-water mark), correlates them
with ``core.analyses.matching.correlate`` over memory-mapped inputs, and checks that the permutation is recovered.
One statistic: the artifact match does it twice (spatial max and mean), so its time is twice this.
Peak RSS is the
measuring process's VmHWM (memory-mapped pages already read are dropped from it as the pass goes on).

    python benchmarks/bench_matching.py [--rows 100000] [--units 2560] [--chunk 4096]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def write_pair(folder: Path, rows: int, units: int) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    perm = rng.permutation(units)
    a = np.lib.format.open_memmap(folder / "a.npy", mode="w+", dtype=np.float16, shape=(rows, units))
    b = np.lib.format.open_memmap(folder / "b.npy", mode="w+", dtype=np.float16, shape=(rows, units))
    mix = rng.normal(size=(16, units)).astype(np.float32)  # shared factors: units correlate, as real ones do
    for start in range(0, rows, 8192):
        n = min(8192, rows - start)
        x = rng.normal(size=(n, 16)).astype(np.float32) @ mix + rng.normal(size=(n, units)).astype(np.float32)
        a[start:start + n] = x
        b[start:start + n] = x[:, perm] + 0.5 * rng.normal(size=(n, units)).astype(np.float32)
    a.flush()
    b.flush()
    np.save(folder / "perm.npy", perm)


def peak_rss_mib() -> float:
    """This process's peak resident set (VmHWM: per address space, so it starts afresh at exec, where
    ``ru_maxrss`` keeps the parent's high-water mark, here the writer's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(folder: Path, chunk: int) -> dict:
    import numpy as np

    from core.analyses.matching import correlate

    a = np.load(folder / "a.npy", mmap_mode="r")
    b = np.load(folder / "b.npy", mmap_mode="r")
    perm = np.load(folder / "perm.npy")
    start = time.perf_counter()
    corr = correlate(a, b, chunk=chunk)
    seconds = time.perf_counter() - start
    recovered = float((corr.argmax(1) == np.argsort(perm)).mean())
    rss = peak_rss_mib()
    return {"rows": a.shape[0], "units": a.shape[1], "chunk": chunk, "seconds": round(seconds, 1),
            "peak_rss_mib": round(rss), "input_mib": round(2 * a.nbytes / 2**20), "recovered": recovered}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--units", type=int, default=2560)
    parser.add_argument("--chunk", type=int, default=4096)
    parser.add_argument("--_measure", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._measure:
        print(json.dumps(measure(Path(args._measure), args.chunk)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        write_pair(Path(tmp), args.rows, args.units)
        print(f"wrote the pair in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        out = subprocess.run([sys.executable, __file__, "--_measure", tmp, "--chunk", str(args.chunk)],
                             capture_output=True, text=True, check=True)
        print(out.stdout.strip())


if __name__ == "__main__":
    main()

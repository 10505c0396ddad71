"""Per-unit views at a million images: neuron card data and conditional-probability data for new units.

Usage: ``.venv/bin/python benchmarks/bench_bigart.py --big DIR [--small DIR] [--units 30] [--json out.json]``

``--big``: an artifact made by ``benchmarks/make_synthetic_artifact.py`` (default size 1,000,000 x 2,560);
``--small``: the 2,579-image collection to compare with (default: a synthetic 2,579-row artifact with the big one's
units and embedding size, written to a temp dir). Each artifact is measured in its own fresh process (the "server"):
open it, read keys and labels, code the labels and build the similar-by-activation sample once ("open"), then for ``--units`` units
never seen before (seeded): ``neuron_card.card_frames`` (the card's data: top/bottom rows, buckets, histogram,
similar units; tiles excluded, the synthetic images do not exist) and the conditional-probability data of the page
(``condprob.sample_buckets`` with 10 buckets x 50 images and 8 categories, keys and argmax, ``category_fractions``).
Both ways: ``warm`` (page cache as it is) and ``cold`` (``sync; echo 3 > /proc/sys/vm/drop_caches`` before each
unit when permitted, else ``posix_fadvise(DONTNEED)`` on the artifact's files, a proxy: it evicts only those
files). Peak RSS is the process's VmHWM. ``--legacy`` also times one unit read as a column of the row-major
``max.f16.npy`` (what an artifact without the unit-major copy does).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402


def drop_caches(art_dir: Path) -> str:
    """Evict the page cache: all of it when root may, else the artifact's files; returns the method used."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as fh:
            fh.write("3\n")
        return "drop_caches"
    except OSError:
        for p in art_dir.iterdir():
            if p.is_file():
                fd = os.open(p, os.O_RDONLY)
                try:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                finally:
                    os.close(fd)
        return "fadvise"


def peak_rss_mb() -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024


def pct(xs, q) -> float:
    return float(np.percentile(np.asarray(xs) * 1000, q))


def serve(path: str, units: int, seed: int, legacy: bool) -> dict:
    """One fresh 'server' process: open, then card and condprob data for ``units`` new units, warm and cold."""
    from core.analyses.condprob import categories, category_fractions, sample_buckets
    from core.analyses.neuron_card import card_frames, similar_sample, unit_at
    from core.pipeline.store import open_artifact

    art_dir = Path(path)
    res = {"path": path}
    method = drop_caches(art_dir)
    t = time.perf_counter()
    art = open_artifact(art_dir)
    keys, labels = art.keys, art.labels  # the pages hold these (row_labels, tiles' keys)
    z = similar_sample(art)
    cats = categories(labels, art.rows, 8)  # ui.resources.row_categories: once per collection
    res.update(rows=art.rows, units=art.units, unit_major=art.unit_major() is not None, cache_method=method,
               open_s=round(time.perf_counter() - t, 3), similar_rows=int(z.shape[0]))
    pick = np.random.default_rng(seed).choice(art.units, size=2 * units, replace=False)

    def condprob(u):
        df = sample_buckets(art.unit_column(int(u)), cats, buckets=10, per_bucket=50, std=float(art.unit_std[u]),
                            keep=8)
        rows = df["row"].to_numpy()
        df = df.assign(key=[keys[r] for r in rows], argmax=unit_at(art, u, rows, "argmax").astype(np.int64))
        return category_fractions(df)

    for mode, chosen in (("warm", pick[:units]), ("cold", pick[units:])):
        card_t, cp_t = [], []
        for u in chosen:
            if mode == "cold":
                drop_caches(art_dir)
            t = time.perf_counter()
            card_frames(art, int(u), standardized=z)
            card_t.append(time.perf_counter() - t)
            if mode == "cold":
                drop_caches(art_dir)
            t = time.perf_counter()
            condprob(int(u))
            cp_t.append(time.perf_counter() - t)
        res[mode] = {"card_p50_ms": pct(card_t, 50), "card_p95_ms": pct(card_t, 95), "card_max_ms": pct(card_t, 100),
                     "condprob_p50_ms": pct(cp_t, 50), "condprob_p95_ms": pct(cp_t, 95),
                     "condprob_max_ms": pct(cp_t, 100)}
    res["peak_rss_mb"] = round(peak_rss_mb(), 1)  # before the legacy read: a mapped column pages in every row
    if legacy:
        u = int(pick[0])
        for mode in ("cold", "warm"):  # cold first: a live mapping's pages survive drop_caches
            if mode == "cold":
                drop_caches(art_dir)
            t = time.perf_counter()
            np.asarray(art.max[:, u], dtype=np.float32)
            res[f"legacy_column_{mode}_ms"] = round((time.perf_counter() - t) * 1000, 1)
        res["legacy_peak_rss_mb"] = round(peak_rss_mb(), 1)
    return res


def measure(path: Path, units: int, seed: int, legacy: bool) -> dict:
    code = (f"import json,sys; sys.path.insert(0, {str(REPO)!r}); from benchmarks.bench_bigart import serve; "
            f"print(json.dumps(serve({str(path)!r}, {units}, {seed}, {legacy})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--big", required=True, type=Path)
    ap.add_argument("--small", type=Path, default=None)
    ap.add_argument("--units", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--legacy", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    from core.pipeline.store import open_artifact

    big = open_artifact(a.big)
    with tempfile.TemporaryDirectory(prefix="bigart-small-") as tmp:
        small = a.small
        if small is None:
            from benchmarks.make_synthetic_artifact import make_artifact

            small = make_artifact(Path(tmp) / "small", 2579, big.units, int(big.manifest["embed_dim"]),
                                  log=lambda m: None)
        results = {"big": measure(big.path, a.units, a.seed, a.legacy),
                   "small": measure(Path(small), a.units, a.seed, a.legacy)}
    b, s = results["big"], results["small"]
    print(f"{'':28s}{b['rows']:>12,} x {b['units']:<6}{s['rows']:>10,} x {s['units']:<6}{'ratio':>8}")
    for mode in ("warm", "cold"):
        for key in ("card_p50_ms", "card_p95_ms", "condprob_p50_ms", "condprob_p95_ms"):
            ratio = b[mode][key] / max(s[mode][key], 1e-9)
            print(f"{mode + ' ' + key:28s}{b[mode][key]:>21.1f}{s[mode][key]:>17.1f}{ratio:>8.1f}")
    for key in ("open_s", "peak_rss_mb"):
        print(f"{key:28s}{b[key]:>21}{s[key]:>17}{b[key] / max(s[key], 1e-9):>8.1f}")
    print(f"cache: {b['cache_method']}; similar-by-activation over {b['similar_rows']:,} rows (big), "
          f"{s['similar_rows']:,} (small); unit-major copy: {b['unit_major']} / {s['unit_major']}")
    if a.legacy:
        print(f"legacy column read (big): warm {b['legacy_column_warm_ms']} ms, cold {b['legacy_column_cold_ms']} ms, "
              f"peak RSS after it {b['legacy_peak_rss_mb']} MB")
    if a.json:
        a.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

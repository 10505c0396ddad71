"""Time of a region map: a layer's first computation (795 place names drawn as words + the world-map crops, every
unit at once), then a unit's map from the cache (frames + Vega-Lite spec), per unit.

Runs in a fresh temporary artifacts dir, so nothing cached is reused.

    python benchmarks/bench_regions.py [--model demo] [--layer L] [--units 3]
    python benchmarks/bench_regions.py --model RN50x4/random --estimate   # times a sample, extrapolates
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def estimate(loaded, layer: str, names: int = 32, crops: int = 16) -> dict:
    """Time ``names`` names and ``crops`` crops and scale to the full 795 names and 126 crops."""
    import torch

    from core.analyses import geo, regions
    from core.analyses.words import _pixels, score_words
    from core.model.hooks import capture

    words = regions.region_words()
    start = time.perf_counter()
    score_words(loaded, words[:names], layer)
    per_name = (time.perf_counter() - start) / names
    size, cell = loaded.image_size, regions.MAP_WIDTH // geo.GRID[1]
    picture = geo.world_map(regions.MAP_WIDTH)
    part = regions.crops()[:crops]
    images = [picture.crop((c * cell, r * cell, (c + s) * cell, (r + s) * cell)).resize((size, size))
              for r, c, s in part]
    start = time.perf_counter()
    with torch.inference_mode(), capture(loaded, [layer]):
        loaded.model.encode_image(_pixels(loaded, images))
    per_crop = (time.perf_counter() - start) / crops
    total = per_name * len(words) + per_crop * len(regions.crops())
    return {"estimated_layer_s": round(total, 1), "per_name_s": round(per_name, 3), "per_crop_s": round(per_crop, 3),
            "sampled": {"names": names, "crops": crops}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="demo")
    parser.add_argument("--layer", default=None)
    parser.add_argument("--units", type=int, default=3, help="units timed from the cache")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--estimate", action="store_true", help="time a sample and extrapolate (big models on CPU)")
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CLIP_EXPLORER_ARTIFACTS"] = tmp
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        from core.analyses import regions
        from core.model.hooks import article_layer
        from core.model.loading import load_model
        from core.region_charts import region_map_spec

        loaded = load_model(args.model)
        layer = args.layer or article_layer(loaded)
        out = {"model": loaded.id, "layer": layer, "image_size": loaded.image_size, "threads": torch.get_num_threads(),
               "device": str(loaded.device)}
        if args.estimate:
            print(json.dumps(out | estimate(loaded, layer)))
            return
        start = time.perf_counter()
        lr = regions.layer_regions(loaded, layer)
        out["layer_s"] = round(time.perf_counter() - start, 1)
        start = time.perf_counter()
        regions.layer_regions(loaded, layer)
        out["layer_from_disk_s"] = round(time.perf_counter() - start, 3)
        times = []
        for unit in range(args.units):
            start = time.perf_counter()
            region_map_spec(regions.unit_frames(lr, [unit]), [unit])
            times.append(time.perf_counter() - start)
        out["unit_map_s"] = round(sum(times) / len(times), 3)
        print(json.dumps(out))


if __name__ == "__main__":
    main()

"""``python -m core regions --model M --neuron L:U``: a unit's region map (country and city names, world map) as
numbers; ``--find`` ranks a layer's units by how geographic their top rastered words are."""
from __future__ import annotations

import sys
import time

from core.cli import add_model_args

NAME = "regions"
HELP = ("a neuron's response to country and city names and over an unlabelled world map (--find: rank a layer's "
        "units as region neurons)")


def configure(parser) -> None:
    add_model_args(parser)
    parser.add_argument("--neuron", default=None, help="LAYER:UNIT, or just UNIT for the article's layer")
    parser.add_argument("--layer", default=None, help="with --find: the layer (default the article's)")
    parser.add_argument("--find", action="store_true", help="rank every unit of the layer by its geographic top words")
    parser.add_argument("--k", type=int, default=5, help="with --find: how many top words count (default 5)")
    parser.add_argument("--top", type=int, default=10, help="how many places / units to list (default 10)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _progress(done: int, total: int) -> None:
    print(f"\rregion responses {done}/{total} (names, then map crops)", end="" if done < total else "\n",
          file=sys.stderr, flush=True)


def _peak(lr, unit: int) -> dict:
    import numpy as np

    from core.analyses import geo

    grid = lr.spatial[unit]
    r, c = np.unravel_index(int(np.argmax(grid)), grid.shape)
    cell = geo.grid_cells()[r * geo.GRID[1] + c]
    return {"lat": (cell["lat0"] + cell["lat1"]) / 2, "lon": (cell["lon0"] + cell["lon1"]) / 2,
            "value": float(grid[r, c]), "mean": float(grid.mean())}


def run(args) -> int:
    from core.analyses import regions
    from core.cli import load_model_from_args, print_json
    from core.commands.render import neuron_arg
    from core.errors import BadInputError
    from core.model.hooks import NeuronRef, article_layer

    if not args.neuron and not args.find:
        raise BadInputError("Give --neuron LAYER:UNIT (its region map) or --find (rank a layer's units).")
    if args.top < 1 or args.k < 1:
        raise BadInputError("--top and --k must be at least 1.")
    loaded = load_model_from_args(args)
    progress = None if args.json else _progress
    if args.find:
        layer = args.layer or (NeuronRef.parse(neuron_arg(loaded, args.neuron)).layer if args.neuron
                               else article_layer(loaded))
        start = time.perf_counter()
        ranking = regions.find_region_neurons(loaded, layer, k=args.k, progress=progress)
        summary = regions.summary(ranking, args.k) | {"seconds": round(time.perf_counter() - start, 2)}
        if args.json:
            print_json({"model": loaded.id, "layer": layer, "summary": summary,
                        "units": ranking.head(args.top).to_dict(orient="records")})
        else:
            print(f"{loaded.id}  {layer}: {summary['all_geographic']} of {summary['units']} units "
                  f"({summary['share']:.1%}) have all top-{args.k} words geographic\n")
            print(ranking.head(args.top).to_string(index=False))
        return 0
    ref = NeuronRef.parse(neuron_arg(loaded, args.neuron))
    start = time.perf_counter()
    lr = regions.layer_regions(loaded, ref.layer, progress=progress)
    seconds = round(time.perf_counter() - start, 2)
    top = regions.top_regions(lr, ref.unit, args.top)
    peak = _peak(lr, ref.unit)
    if args.json:
        print_json({"model": loaded.id, "neuron": str(ref), "seconds": seconds, "top": top.to_dict(orient="records"),
                    "map_peak": peak, "countries": lr.country[:, ref.unit].round(5).tolist(),
                    "cities": lr.city[:, ref.unit].round(5).tolist()})
        return 0
    print(f"{ref}  ({loaded.id}; layer computed or loaded in {seconds} s)\n{top.to_string(index=False)}\n")
    print(f"world map: strongest at lat {peak['lat']:.0f}, lon {peak['lon']:.0f} ({peak['value']:.3f}; "
          f"map mean {peak['mean']:.3f})")
    return 0

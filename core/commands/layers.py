"""``python -m core layers --model M``: hookable layers with their unit counts."""
from __future__ import annotations

from core.cli import add_model_args

NAME = "layers"
HELP = "list a model's hookable layers (neuron ids are LAYER:UNIT)"


def configure(parser) -> None:
    add_model_args(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args) -> int:
    from dataclasses import asdict

    from core.cli import load_model_from_args, print_json
    from core.model.hooks import article_layer, list_layers

    loaded = load_model_from_args(args)
    layers = list_layers(loaded)
    art = article_layer(loaded)
    if args.json:
        print_json({"model": loaded.id, "article_layer": art,
                    "layers": [asdict(li) | {"article": li.id == art} for li in layers]})
        return 0
    for li in layers:
        mark = "  <- the article's layer" if li.id == art else ""
        print(f"{li.id:<40} {li.units:>6} units  {li.kind}{mark}")
    return 0

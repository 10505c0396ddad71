"""``python -m core layers --model M``: hookable layers with their unit counts.

The table depends only on the architecture, so a model whose table is known (``core.model.layer_table``: shipped
for ``demo``, derived from open_clip's config for ``ARCH/random`` and ``ARCH/TAG`` with local weights, remembered
for checkpoint files after their first listing) is answered without importing torch; ``--json``
is the same either way. ``--device`` (checked against the machine) and a non-CPU ``CLIP_EXPLORER_DEVICE`` take
the loading path, which reports an unusable device.
"""
from __future__ import annotations

from core.cli import add_model_args

NAME = "layers"
HELP = "list a model's hookable layers (neuron ids are LAYER:UNIT)"


def configure(parser) -> None:
    add_model_args(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args) -> int:
    from core.cli import print_json

    table = _known_table(args)
    if table is None:
        from core.cli import load_model_from_args
        from core.model import layer_table

        table = layer_table.table(load_model_from_args(args))
    art = table["article_layer"]
    if args.json:
        print_json({"model": table["model"], "article_layer": art,
                    "layers": [li | {"article": li["id"] == art} for li in table["layers"]]})
        return 0
    for li in table["layers"]:
        mark = "  <- the article's layer" if li["id"] == art else ""
        print(f"{li['id']:<40} {li['units']:>6} units  {li['kind']}{mark}")
    return 0


def _known_table(args) -> dict | None:
    """The table without loading the model, where the loading path would run on the CPU (else None)."""
    from core import config
    from core.cli import model_id_from_args
    from core.model import layer_table

    settings = config.get_settings()
    if getattr(args, "device", None) is not None or settings.device != "cpu":
        return None
    return layer_table.lookup(model_id_from_args(args) or settings.default_model)

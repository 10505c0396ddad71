"""``python -m core neurons``: zero-shot neuron search (text) or the units firing most on an image."""
from __future__ import annotations

from typing import TYPE_CHECKING

from core.cli import INT, add_model_args

if TYPE_CHECKING:
    from core.model.loading import LoadedModel

NAME = "neurons"
HELP = "rank neurons for a text query (zero-shot neuron search) or an image"


def configure(parser) -> None:
    add_model_args(parser)
    query = parser.add_mutually_exclusive_group(required=True)
    query.add_argument("--query", help="text, e.g. 'spider'")
    query.add_argument("--image", help="image file")
    parser.add_argument("--layer", default=None, help="layer id (default: the article's layer)")
    parser.add_argument("--top", type=INT, default=10, help="number of neurons (default 10)")
    parser.add_argument("--index", default=None, help="artifact directory: scale by each unit's activation std")
    parser.add_argument("--exact", action="store_true",
                        help="encode the query in float32 (default on CPU for big text towers: int8, ~4x faster)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args) -> int:
    from core.analyses.search import image_to_neurons, text_to_neurons
    from core.cli import load_model_from_args, print_json
    from core.pipeline.store import open_artifact

    loaded = load_model_from_args(args)
    query = query_notice(loaded, args.query) if args.query is not None else None
    art = open_artifact(args.index, expect=loaded, layer=args.layer) if args.index else None
    layer = args.layer or (art.layer if art else None)
    if args.query is not None:
        std = art.unit_stats("mean")[1] if art else None
        df = text_to_neurons(loaded, args.query, layer=layer, top=args.top, unit_std=std, exact=args.exact)
        cols = ["rank", "neuron", "unit", "score", "weight", "cosine"]
    else:
        df = image_to_neurons(loaded, args.image, layer=layer, top=args.top, unit_std=art.unit_std if art else None)
        cols = ["rank", "neuron", "unit", "activation"] + (["z"] if art else []) + ["y", "x"]  # z needs --index's std
    if args.json:
        records = df[cols].to_dict(orient="records")
        print_json({"model": loaded.id, "query": args.query, "image": args.image, **query_fields(query),
                    "scaled_by_std": art is not None, "neurons": [_plain(r) for r in records]})
        return 0
    print(df[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


def query_notice(loaded: LoadedModel, text: str):
    """``core.analyses.search.check_query`` for the CLI: refuses empty/huge queries, warns on stderr when cut."""
    import sys

    from core.analyses.search import check_query

    check = check_query(loaded, text)
    if check.truncated:
        print(f"warning: {check.warning()}", file=sys.stderr)
    return check


def query_fields(check) -> dict:
    """The ``--json`` fields of a text query: whether the model cut it, and the token counts."""
    if check is None:
        return {}
    return {"truncated": check.truncated, "query_tokens": check.tokens, "context_tokens": check.context}


def _plain(record: dict) -> dict:
    import math

    out = {}
    for k, v in record.items():
        v = v.item() if hasattr(v, "item") else v
        out[k] = None if isinstance(v, float) and math.isnan(v) else v
    return out

"""``python -m core images``: the images of an indexed collection nearest to a text or an image."""
from __future__ import annotations

from core.cli import INT, add_model_args

NAME = "images"
HELP = "search an indexed collection by text or image (kNN over the image embeddings)"


def configure(parser) -> None:
    parser.add_argument("--index", required=True, help="artifact directory made by `python -m core index`")
    query = parser.add_mutually_exclusive_group(required=True)
    query.add_argument("--query", help="text, e.g. 'a photo of a cat'")
    query.add_argument("--image", help="image file")
    parser.add_argument("--top", type=INT, default=10, help="number of images (default 10)")
    add_model_args(parser)
    parser.set_defaults(model=None)
    parser.add_argument("--exact", action="store_true",
                        help="encode the query in float32 (default on CPU for big text towers: int8, ~4x faster)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args) -> int:
    from core.analyses.search import query_images
    from core.cli import load_model_from_args, print_json
    from core.commands.neurons import query_fields, query_notice
    from core.pipeline.index import load_index
    from core.pipeline.store import open_artifact, read_manifest

    manifest = read_manifest(_path(args.index))
    loaded = load_model_from_args(args, default_model=manifest["model_id"])
    art = open_artifact(args.index, expect=loaded)
    query = query_notice(loaded, args.query) if args.query is not None else None
    df = query_images(loaded, art, load_index(art), text=args.query, image=args.image, top=args.top,
                      exact=args.exact)
    if args.json:
        rows = [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
                for r in df.to_dict(orient="records")]
        print_json({"index": str(art.path), "model": art.model_id, "query": args.query, "image": args.image,
                    **query_fields(query), "images": rows})
        return 0
    print(df[["rank", "score", "label", "key"]].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return 0


def _path(p: str):
    from pathlib import Path

    return Path(p).expanduser().resolve()

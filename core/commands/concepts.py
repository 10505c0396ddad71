"""``python -m core concepts CONCEPT [CONCEPT ...]``: sparse neuron codes of concepts, or an NMF atlas."""
from __future__ import annotations

from core.cli import INT, add_model_args, finite_float

NAME = "concepts"
HELP = "express concepts as sparse non-negative neuron codes (--atlas K: NMF atlas of the concepts)"


def configure(parser) -> None:
    add_model_args(parser)
    parser.add_argument("concepts", nargs="*", help="concept words (default with --atlas: the article's emotions)")
    parser.add_argument("--kind", choices=("emotion", "plain"), default="emotion",
                        help="emotion: the article's three prompts ('i am feeling {}', ...); plain: the word itself")
    parser.add_argument("--alpha", type=finite_float(), default=0.3, help="L1 weight as a fraction of the largest useful one "
                        "(0..1; smaller gives more neurons)")
    parser.add_argument("--max-terms", type=INT, default=None, help="at most this many neurons per code")
    parser.add_argument("--top", type=INT, default=8, help="neurons shown per code")
    parser.add_argument("--exclude", default="", help="comma-separated units to leave out (e.g. lexical neurons)")
    parser.add_argument("--atlas", type=INT, default=None, metavar="K", help="NMF atlas with K factors instead")
    parser.add_argument("--contrastive", action="store_true", help="the article's signed codes instead: L1 logistic "
                        "regression across the given concepts (needs at least two)")
    parser.add_argument("--lam", type=finite_float(), default=0.02, help="--contrastive: L1 weight")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _units(text: str) -> list[int]:
    from core.errors import BadInputError

    try:
        return [int(u) for u in text.replace(" ", "").split(",") if u]
    except ValueError as err:
        raise BadInputError(f"--exclude takes comma-separated unit numbers, e.g. 12,40 (got '{text}').") from err


def run(args) -> int:
    from core.analyses import concepts as cc
    from core.cli import load_model_from_args, print_json
    from core.errors import BadInputError
    from core.model.hooks import article_layer

    if args.atlas is None and not args.concepts:
        raise BadInputError("Name at least one concept, e.g. `python -m core concepts surprised happy`.")
    loaded = load_model_from_args(args)
    layer = article_layer(loaded)
    if args.atlas is not None:
        atlas = cc.atlas_for(loaded, args.concepts or list(cc.ARTICLE_EMOTIONS), args.atlas, kind=args.kind)
        if args.json:
            print_json({"model": loaded.id, "layer": layer, "kind": args.kind} | atlas.to_dict())
            return 0
        print(f"{loaded.id}  {layer}  atlas of {atlas.loadings['concept'].nunique()} concepts, "
              f"{args.atlas} factors, relative error {atlas.error:.3f}")
        for factor, g in atlas.factors.groupby("factor", sort=False):
            top = atlas.loadings[atlas.loadings["factor"] == factor].nlargest(4, "loading")["concept"]
            units = " ".join(f"{r.sign}{r.unit}" for r in g.itertuples())
            print(f"  {factor}: {', '.join(top)}   units {units}")
        return 0
    if args.contrastive:
        df = cc.contrastive_codes(loaded, args.concepts, kind=args.kind, lam=args.lam, top=args.top)
        if args.json:
            print_json({"model": loaded.id, "layer": layer, "kind": args.kind, "method": "l1-logistic",
                        "terms": df.round(6).to_dict(orient="records")})
            return 0
        for concept, g in df.groupby("concept", sort=False):
            print(f"{concept} = " + " ".join(f"{r.relative:+.2f}*{r.unit}" for r in g.itertuples()))
        return 0
    codes = [cc.code_concept(loaded, c, kind=args.kind, alpha=args.alpha, max_terms=args.max_terms,
                             exclude=_units(args.exclude)) for c in args.concepts]
    if args.json:
        print_json({"model": loaded.id, "layer": layer, "kind": args.kind,
                    "codes": [c.to_dict() | {"terms": c.to_dict()["terms"][:args.top]} for c in codes]})
        return 0
    for c in codes:
        terms = " + ".join(f"{r.relative:.2f}*{r.unit}" for r in c.table.head(args.top).itertuples())
        print(f"{c.concept} = {terms or '(no neuron)'}   [{c.nnz} terms, fit cos {c.fit_cosine:.2f}, alpha {c.alpha:.2g}]")
    print(f"(units at {layer}; weights relative to the largest)")
    return 0

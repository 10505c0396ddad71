"""``python -m core attack --image X --text WORD``: one typographic attack on one picture (article §7)."""
from __future__ import annotations

from core.cli import INT, add_model_args, finite_float

NAME = "attack"
HELP = ("write a word on one picture and compare CLIP's zero-shot prediction and the neurons before and after "
        "(a single-image typographic attack)")


def configure(parser) -> None:
    add_model_args(parser)
    parser.add_argument("--image", required=True, help="the picture (PNG/JPEG)")
    parser.add_argument("--text", required=True, help="the attack text, e.g. iPod")
    parser.add_argument("--classes", default=None, help="comma-separated zero-shot classes (default: the demo "
                        "corpus's categories); the attack text is added when it is not one of them")
    parser.add_argument("--template", default=None, help="zero-shot prompt with one {} (default: the model's)")
    parser.add_argument("--style", default="sticker", choices=["sticker", "article"],
                        help="sticker = one label box; article = the word 8 times at fixed spots")
    parser.add_argument("--area", type=finite_float(0, 0.5), default=0.08, help="sticker area, fraction of the picture")
    parser.add_argument("--position", default="center", choices=["center", "top", "bottom"], help="sticker position")
    parser.add_argument("--layer", default=None, help="layer whose units are compared (default: the article's)")
    parser.add_argument("--top", type=INT, default=10, help="classes and neurons listed (default 10)")
    parser.add_argument("--out", default=None, help="also save the attacked picture as this PNG")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args) -> int:
    from core.analyses.attacks import AttackSpec, attack_image, risers_fallers
    from core.analyses.zeroshot import build_classifier, parse_class_list
    from core.cli import load_model_from_args, print_json
    from core.errors import BadInputError
    from core.pipeline.demo import CATEGORIES
    from core.pipeline.images import open_image

    if args.out and not args.out.lower().endswith(".png"):
        raise BadInputError(f"--out must be a .png file, got {args.out}.")
    spec = AttackSpec(args.text, style=args.style, area=args.area, position=args.position).validated()
    image = open_image(args.image)
    classes = parse_class_list(args.classes) if args.classes else list(CATEGORIES)
    if spec.text.lower() not in {c.lower() for c in classes}:
        classes.append(spec.text)
    loaded = load_model_from_args(args)
    res = attack_image(loaded, image, spec, build_classifier(loaded, classes, args.template), layer=args.layer)
    if args.out:
        res.after.save(args.out)
    top = max(1, args.top)
    rise, fall = risers_fallers(res.deltas, top)
    unit_rows = lambda df: [{"unit": int(r.unit), "before": float(r.before), "after": float(r.after),  # noqa: E731
                             "delta": float(r.delta)} for r in df.itertuples()]
    out = {"model": loaded.id, "image": args.image, "text": spec.text, "style": spec.style, "layer": res.layer,
           "cover": round(float(res.cover), 5), "pred_before": res.pred_before, "pred_after": res.pred_after,
           "flipped": bool(res.flipped), "target": res.target, "success": res.success, "classes": classes,
           "probs": [{"class": r["class"], "before": round(float(r["before"]), 5), "after": round(float(r["after"]), 5)}
                     for r in res.probs.head(top).to_dict(orient="records")],
           "risers": unit_rows(rise), "fallers": unit_rows(fall), "out": args.out}
    if args.json:
        print_json(out)
        return 0
    verdict = "success" if res.success else ("flipped" if res.flipped else "no change")
    print(f"{loaded.id} · '{spec.text}' ({spec.style}, cover {res.cover:.1%}): {res.pred_before} -> "
          f"{res.pred_after} ({verdict})")
    for r in out["probs"]:
        print(f"  {r['class']:<24} {r['before']:7.2%} -> {r['after']:7.2%}")
    print(f"neurons at {res.layer} that rose most: " + ", ".join(f"{r['unit']} ({r['delta']:+.2f})" for r in out["risers"]))
    print("fell most: " + ", ".join(f"{r['unit']} ({r['delta']:+.2f})" for r in out["fallers"]))
    return 0

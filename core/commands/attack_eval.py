"""``python -m core attack-eval``: the article's automated typographic attack over a labelled collection."""
from __future__ import annotations

from core.cli import INT, SEED, add_model_args, finite_float

NAME = "attack-eval"
HELP = ("typographic attacks over a collection: success (top-1 becomes the written class), any-flip, "
        "pixel cover, per attack word and style, beside the article's table")


def configure(parser) -> None:
    add_model_args(parser)
    parser.add_argument("--index", default=None, metavar="DIR",
                        help="an indexed, labelled collection (artifact dir); default: the demo corpus's "
                             "held-out pictures (the set eval-demo uses)")
    parser.add_argument("--words", nargs="+", default=None, metavar="WORD[=CLASS]",
                        help="attack words; a class name, or WORD=CLASS (default: every class name)")
    parser.add_argument("--controls", nargs="*", default=[], metavar="WORD",
                        help="neutral control words (no target class): any-flip only")
    parser.add_argument("--styles", nargs="+", default=["article", "sticker"], choices=["article", "sticker"],
                        help="article = the word 8 times at fixed spots; sticker = one label box")
    parser.add_argument("--area", type=finite_float(0, 1), default=0.08, help="sticker area, fraction of the picture")
    parser.add_argument("--font", default=None, help="font of the attack text (default DejaVuSans-Bold)")
    parser.add_argument("--template", default=None, help="zero-shot prompt, e.g. 'a photo of a {}' "
                        "(default: 'a drawing of a {}' for demo, 'a photo of a {}' otherwise)")
    parser.add_argument("--limit", type=INT, default=200, help="at most this many pictures (seeded sample)")
    parser.add_argument("--seed", type=SEED, default=0, help="seed of the picture sample")
    parser.add_argument("--top", type=INT, default=10, help="neurons listed as risers / fallers")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--out", default=None, help="also write the JSON result to this file")


def _pct(v) -> str:
    return "   n/a" if v is None or v != v else f"{v:6.1%}"


def run(args) -> int:
    import logging

    from core.analyses import attack_lab, raster
    from core.analyses.attack_lab import attack_eval, parse_attack_words
    from core.analyses.zeroshot import build_classifier
    from core.cli import load_model_from_args, print_json
    from core.commands.stroop import write_json

    loaded = load_model_from_args(args)
    if args.index:
        from core.pipeline.store import open_artifact

        pics = attack_lab.from_artifact(open_artifact(args.index, expect=loaded), limit=args.limit, seed=args.seed)
    else:
        pics = attack_lab.demo_heldout(loaded.image_size, limit=args.limit, seed=args.seed)
    clf = build_classifier(loaded, pics.classes, args.template)
    words = parse_attack_words(args.words or clf.classes, clf.classes, controls=args.controls)
    log = logging.getLogger(__name__)
    res = attack_eval(loaded, pics.images, pics.labels, clf, words, styles=args.styles, area=args.area,
                      font=args.font or raster.DEFAULT_FONT,
                      progress=lambda d, t: log.info("attacked %d / %d pictures", d, t))
    out = res.to_dict(top=args.top) | {"source": pics.source}
    if args.out:
        write_json(args.out, out)
    if args.json:
        print_json(out)
        return 0
    m = res.meta
    print(f"{m['model']} · {pics.source} · {m['images']} pictures, {m['correct']} classified correctly "
          f"zero-shot ({_pct(m['clean_accuracy']).strip()}), prompt {m['template'][0]!r}, layer {m['layer']}")
    print(f"\n{'word':<16}{'target':<18}{'style':<9}{'n':>5}  {'success':>7}  {'chance':>6}  {'any-flip':>8}  cover")
    for r in out["table"]:
        print(f"{r['word']:<16}{(r['target'] or '(control)'):<18}{r['style']:<9}{r['n']:>5}  {_pct(r['success']):>7}"
              f"  {_pct(r['chance'])}  {_pct(r['any_flip']):>8}  {_pct(r['cover'])}")
    for style, r in out["summary"].items():
        print(f"{'all words':<16}{'':<18}{style:<9}{r['n']:>5}  {_pct(r['success']):>7}  {_pct(r['chance'])}  "
              f"{_pct(r['any_flip']):>8}  {_pct(r['cover'])}")
    print("\nThe article (RN50x4, linear probe, 1000 ImageNet val pictures, 8 copies of the word):")
    for r in out["article"]["table"]:
        print(f"  {r['word']:<10} -> {r['target']:<18} success {r['success']:.1%}  cover {r['cover']:.2%}")
    print("\nNeurons that rose most under the attacks:  " +
          ", ".join(f"{r['unit']} ({r['delta']:+.2f})" for r in out["neurons"]["risers"]))
    print("Neurons that fell most:                    " +
          ", ".join(f"{r['unit']} ({r['delta']:+.2f})" for r in out["neurons"]["fallers"]))
    return 0

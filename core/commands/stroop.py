"""``python -m core stroop``: colour words in mismatched ink; does the model read the word or the ink?"""
from __future__ import annotations

from core.cli import add_model_args

NAME = "stroop"
HELP = "the Stroop experiment: colour words drawn in congruent and incongruent inks, zero-shot over colour names"


def configure(parser) -> None:  # no core.analyses.stroop import here: it pulls pandas, and --help must stay fast
    add_model_args(parser)
    parser.add_argument("--colors", nargs="+", default=None, metavar="COLOR",
                        help="colour names (default: the article's 8: black, red, green, blue, purple, orange, pink, "
                             "yellow)")
    parser.add_argument("--template", default=None,
                        help="zero-shot prompt (default 'my favorite word, written in the color {}')")
    parser.add_argument("--font", default=None, help="font of the words (default DejaVuSans-Bold)")
    parser.add_argument("--json", action="store_true", help="machine-readable output (summary + every trial)")
    parser.add_argument("--out", default=None, help="also write the JSON result to this file")


def run(args) -> int:
    from core.analyses import raster
    from core.analyses.stroop import COLORS, STROOP_TEMPLATE, check_colors, run_stroop
    from core.analyses.zeroshot import build_classifier
    from core.cli import load_model_from_args, print_json

    colors = check_colors(args.colors or list(COLORS))
    loaded = load_model_from_args(args)
    clf = build_classifier(loaded, colors, args.template or STROOP_TEMPLATE)
    scored, s = run_stroop(loaded, clf, font=args.font or raster.DEFAULT_FONT)
    if args.out:
        write_json(args.out, s | {"trials": scored.to_dict("records")})
    if args.json:
        print_json(s | {"trials": scored.to_dict("records")})
        return 0
    a = s["article"]
    print(f"{s['model']} · prompt {s['template'][0]!r} · {len(s['colors'])} colours")
    print(f"incongruent word/ink pairs: the word wins {s['word_wins']}/{s['incongruent']}, the ink wins "
          f"{s['ink_wins']}/{s['incongruent']}, another colour {s['other_wins']}/{s['incongruent']} "
          f"(chance per colour {s['chance']:.1%})")
    print(f"congruent pairs read correctly: {s['congruent_correct']}/{s['congruent']}; "
          f"controls ('example' in each ink): the ink wins {s['control_ink_wins']}/{s['controls']}")
    print(f"the article ({a['model']}): the word wins {a['word_wins']}/{a['incongruent']}; "
          f"the ink wins {a['control_ink_wins']}/{a['controls']} controls")
    return 0


def write_json(path: str, obj) -> None:
    """Write a JSON result file (the ``--out`` option)."""
    import json

    from core.cli import write_text

    write_text(path, json.dumps(obj, indent=2, default=str) + "\n")

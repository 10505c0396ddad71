"""``python -m core eval-demo [--json] [--cards] [--ood]``: held-out figures of a model on the demo corpus, and with
``--ood`` on the out-of-distribution Symbola glyphs (``core.analyses.ood_eval``)."""
from __future__ import annotations

from core.cli import SEED, add_model_args

NAME = "eval-demo"
HELP = "evaluate a model (default: demo) on the demo corpus's held-out pictures and fonts"


def configure(parser) -> None:
    add_model_args(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--seed", type=SEED, default=0, help="seed of word renderings and label placement")
    parser.add_argument("--out", default=None, help="also write the JSON result to this file")
    parser.add_argument("--cards", action="store_true",
                        help="also judge multimodal and region units as the neuron card shows them, over the demo "
                             "collection (indexed with the model on first use) and the rastered-word vocabulary "
                             "(scored on first use: minutes)")
    parser.add_argument("--index", default=None, help="with --cards: the demo collection's artifact to use")
    parser.add_argument("--ood", action="store_true",
                        help="also evaluate on the out-of-distribution Symbola glyphs (assets/demo_ood): zero-shot "
                             "top-1 and band, sticker and 8-spot attacks with held-out neutral words and blank "
                             "controls, counts and 95 %% intervals")
    parser.add_argument("--ood-split", choices=("test", "val"), default="test",
                        help="with --ood: the split to report (val for model selection; test is reported once)")
    parser.add_argument("--ood-dir", default=None, help="with --ood: the OOD picture folder (default assets/demo_ood)")


def _fmt(value, chance) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return f"{value:d}   (chance {chance})"
    return f"{value:.1%} (chance {chance:.1%})"


def run(args) -> int:
    import json

    from core.analyses.evaluate import evaluate
    from core.cli import load_model_from_args, print_json, write_text

    ood_dir = None
    if args.ood:  # missing OOD files fail before the minutes of the in-distribution evaluation
        from pathlib import Path

        from core.analyses.ood import load_ood_index
        ood_dir = Path(args.ood_dir) if args.ood_dir else None
        load_ood_index(args.ood_split, ood_dir)
    loaded = load_model_from_args(args)
    result = evaluate(loaded, seed=args.seed)
    if args.cards or args.index:
        result |= _card_figures(loaded, args.index)
    if args.ood:
        from core.analyses.ood_eval import evaluate_ood
        result["ood"] = evaluate_ood(loaded, split=args.ood_split, seed=args.seed, ood_dir=ood_dir)
    if args.out:
        write_text(args.out, json.dumps(result, indent=2) + "\n")
    if args.json:
        print_json(result)
        return 0
    print(f"model {result['model']} ({result['n_categories']} categories, "
          f"{result['heldout_pictures']} held-out pictures)")
    for key in ("zero_shot_top1", "zero_shot_top1_balanced", "zero_shot_top5", "reading"):
        print(f"  {key:<26} {_fmt(result[key]['value'], result[key]['chance'])}")
    att = result["typographic_attack"]
    if att["value"] is not None:
        print(f"  {'typographic_attack':<26} {_fmt(att['value'], att['chance'])}; flips {att['flip_rate']:.1%}, "
              f"neutral-word flips {att['control_flip_rate']:.1%}, pixel cover {att['pixel_cover']:.1%}")
    for key in ("multimodal_units", "neuron_search"):
        r = result[key]
        print(f"  {key:<26} {_fmt(r['value'], r['chance'])} of {r['of']} categories")
    for ex in result["multimodal_units"]["examples"][:5]:
        print(f"    {ex['text']}")
    if "multimodal_on_cards" in result:
        cards, regions = result["multimodal_on_cards"], result["continent_units"]
        print(f"  {'multimodal_on_cards':<26} {_fmt(cards['value'], cards['chance'])} of {cards['of']} categories")
        if regions["value"] is not None:
            print(f"  {'continent_units':<26} {regions['value']} of {regions['of']} continents at >= 2x chance")
    if "ood" in result:
        _print_ood(result["ood"])
    return 0


def _share(p: dict) -> str:
    if p["value"] is None:
        return "n/a"
    lo, hi = p["ci95"]
    return f"{p['value']:6.1%} ({p['k']:3d}/{p['n']:<3d} [{lo:.0%}, {hi:.0%}])"


def _print_ood(ood: dict) -> None:
    print(f"out of distribution: {ood['pictures']} Symbola glyphs, split {ood['split']} (unit: {ood['unit']})")
    print(f"  {'zero_shot_top1':<26} {_share(ood['zero_shot_top1'])}; top-5 {_share(ood['zero_shot_top5'])}")
    att = ood["typographic_attack"]
    if att.get("pictures"):
        print(f"  attacks: {att['pictures']} correctly classified glyphs x {att['per_picture']}; intervals over glyphs")
        print(f"  {'style':<8} {'attack success':<28} {'neutral-word flips':<28} {'blank flips':<28} cover")
        for style, s in att["styles"].items():
            print(f"  {style:<8} {_share(s['attack_success']):<28} {_share(s['neutral_flips']):<28} "
                  f"{_share(s['blank_flips']):<28} {s['cover']['attack']['mean']:.1%}")
    for t in ood["targets"]:
        print(f"  [{'met' if t['met'] else 'not met'}] {t['target']}: {t['value']:.1%}")


def _card_figures(loaded, index: str | None) -> dict:
    from pathlib import Path

    from core.analyses.card_phenomena import demo_card_figures
    from core.pipeline.demo import CATEGORIES, ensure_demo_index
    from core.pipeline.store import open_artifact

    art = open_artifact(Path(index), expect=loaded) if index else ensure_demo_index(loaded=loaded)
    return demo_card_figures(loaded, art, CATEGORIES)

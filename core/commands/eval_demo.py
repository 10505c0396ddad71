"""``python -m core eval-demo [--json]``: held-out figures of a model on the demo corpus."""
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

    loaded = load_model_from_args(args)
    result = evaluate(loaded, seed=args.seed)
    if args.cards or args.index:
        result |= _card_figures(loaded, args.index)
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
    return 0


def _card_figures(loaded, index: str | None) -> dict:
    from pathlib import Path

    from core.analyses.card_phenomena import demo_card_figures
    from core.pipeline.demo import CATEGORIES, ensure_demo_index
    from core.pipeline.store import open_artifact

    art = open_artifact(Path(index), expect=loaded) if index else ensure_demo_index(loaded=loaded)
    return demo_card_figures(loaded, art, CATEGORIES)

"""``python -m core words --model M --neuron L:U``: the rastered words that most/least activate a neuron."""
from __future__ import annotations

import sys

from core.cli import INT, add_model_args

NAME = "words"
HELP = "top and bottom rastered words of a neuron (or --near WORD: nearest words in the image-based embedding)"


def configure(parser) -> None:
    add_model_args(parser)
    parser.add_argument("--neuron", default=None, help="LAYER:UNIT, or just UNIT for the article's layer")
    parser.add_argument("--near", default=None, help="instead: words nearest to this word (image-based embedding)")
    parser.add_argument("--top", type=INT, default=20, help="how many words (default 20)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args) -> int:
    from core.analyses.words import nearest_words, neuron_words
    from core.cli import load_model_from_args, print_json
    from core.commands.render import neuron_arg
    from core.errors import BadInputError

    if not args.neuron and not args.near:
        raise BadInputError("Give --neuron LAYER:UNIT (top/bottom words) or --near WORD (nearest words).")
    if args.top < 1:
        raise BadInputError(f"--top must be at least 1, got {args.top}.")
    loaded = load_model_from_args(args)

    def progress(done: int, total: int) -> None:
        print(f"scoring the vocabulary: {done}/{total} words", file=sys.stderr)

    if args.near:
        near = nearest_words(loaded, args.near, args.top, progress=progress)
        if args.json:
            print_json({"model": loaded.id, "word": args.near, "nearest": near.to_dict(orient="records")})
        else:
            print(near.to_string(index=False))
        return 0
    neuron = neuron_arg(loaded, args.neuron)
    top, bottom = neuron_words(loaded, neuron, args.top, progress=progress)
    if args.json:
        print_json({"model": loaded.id, "neuron": neuron, "top": top.to_dict(orient="records"),
                    "bottom": bottom.to_dict(orient="records")})
        return 0
    print(f"{neuron}: top words\n{top.to_string(index=False)}\n\nbottom words\n{bottom.to_string(index=False)}")
    return 0

"""``python -m core match --a DIR --b DIR``: the same neuron in another model or layer over one collection."""
from __future__ import annotations

import sys
import time

NAME = "match"
HELP = ("match the units of two artifacts over the same collection (two models, or two layers of one model) by "
        "the correlation of their activations and of their rastered-word responses")


def configure(parser) -> None:
    parser.add_argument("--a", required=True, help="artifact directory A (its units are matched)")
    parser.add_argument("--b", required=True, help="artifact directory B (where matches are looked for)")
    parser.add_argument("--unit", type=int, default=None, help="only this unit of A: its best matches in B")
    parser.add_argument("--top", type=int, default=10, help="how many rows to list (default 10)")
    parser.add_argument("--words", action="store_true",
                        help="score the word vocabulary for both models/layers if not yet done (loads the models)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _progress(done: int, total: int) -> None:
    print(f"\rcorrelating {done}/{total} rows", end="" if done < total else "\n", file=sys.stderr, flush=True)


def _words(art, score: bool):
    from core.analyses.matching import cached_word_acts

    acts = cached_word_acts(art)
    if acts is None and score:
        from core.analyses.words import word_activations
        from core.model.loading import load_model

        acts = word_activations(load_model(art.model_id), art.layer).acts
    return acts


def run(args) -> int:
    from core.analyses.matching import match_artifacts
    from core.cli import print_json
    from core.errors import BadInputError
    from core.pipeline.store import open_artifact

    if args.top < 1:
        raise BadInputError(f"--top must be at least 1, got {args.top}.")
    art_a, art_b = open_artifact(args.a), open_artifact(args.b)
    if args.unit is not None and not 0 <= args.unit < art_a.units:
        raise BadInputError(f"Unit {args.unit} is out of range: A's units are 0..{art_a.units - 1}.")
    wa, wb = _words(art_a, args.words), _words(art_b, args.words)
    start = time.perf_counter()
    m = match_artifacts(art_a, art_b, words_a=wa, words_b=wb, units_a=None if args.unit is None else [args.unit],
                        progress=None if args.json else _progress)
    seconds = round(time.perf_counter() - start, 3)
    head = {"a": m.meta["a"], "b": m.meta["b"], "model_a": art_a.model_id, "layer_a": art_a.layer,
            "model_b": art_b.model_id, "layer_b": art_b.layer, "images": m.images, "words": m.words,
            "scores": list(m.corr), "seconds": seconds}
    if args.unit is not None:
        best = m.best_for(0, args.top)
        if args.json:
            print_json(head | {"unit": args.unit, "matches": best.to_dict(orient="records")})
        else:
            print(f"unit {args.unit} of {art_a.model_id} {art_a.layer} -> {art_b.model_id} {art_b.layer} "
                  f"({m.images} images, {m.words} words)\n{best.to_string(index=False)}")
        return 0
    table = m.table()
    summary = {"units": int(len(table)), "mutual": int(table["mutual"].sum()),
               "median_score": float(table["score"].median())}
    top = table.sort_values("score", ascending=False).head(args.top)
    if args.json:
        print_json(head | {"summary": summary, "matches": table.to_dict(orient="records")})
    else:
        print(f"{art_a.model_id} {art_a.layer} -> {art_b.model_id} {art_b.layer}: {m.images} images, {m.words} "
              f"words, {seconds} s; {summary['mutual']} of {summary['units']} units are mutual best matches "
              f"(median score {summary['median_score']:.3f})\n{top.to_string(index=False)}")
    return 0

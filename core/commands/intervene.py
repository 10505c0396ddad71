"""``python -m core intervene``: ablate or amplify one neuron and compare zero-shot probabilities;
``--causal``: the article's blank-image check."""
from __future__ import annotations

from core.cli import INT, add_model_args, finite_float

NAME = "intervene"
HELP = "ablate/amplify a neuron on an image and show the zero-shot change (--causal: blank-image check)"


def configure(parser) -> None:
    add_model_args(parser)
    parser.add_argument("image", nargs="?", help="image file (not needed with --causal)")
    parser.add_argument("--unit", type=INT, required=True, help="unit at the article layer")
    parser.add_argument("--op", default="zero", help="zero | mean | scale | set | add (default zero)")
    parser.add_argument("--value", type=finite_float(), default=None, help="operand: factor (scale), value (set/mean), "
                        "amount (add)")
    parser.add_argument("--artifact", default=None, help="activation artifact to take the unit's mean from (--op mean)")
    parser.add_argument("--labels", default=None, help="comma-separated classes (default: the demo categories)")
    parser.add_argument("--template", default=None, help="prompt template with {} (default per model)")
    parser.add_argument("--causal", action="store_true", help="raise the unit on a blank image instead")
    parser.add_argument("--delta", type=finite_float(), default=None, help="--causal: how much to raise the unit "
                        "(default 5x the layer's RMS on the blank image)")
    parser.add_argument("--blank", choices=("white", "mean"), default="white", help="--causal: blank image colour")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _labels(text):
    from core.analyses.zeroshot import parse_class_list

    return None if text is None else parse_class_list(text)


def run(args) -> int:
    from core.analyses import interventions as iv
    from core.cli import load_model_from_args, print_json
    from core.errors import BadInputError

    loaded = load_model_from_args(args)
    if args.causal:
        from core.pipeline.demo import CATEGORIES

        res = iv.causal_check(loaded, args.unit, _labels(args.labels) or list(CATEGORIES),
                              template=args.template or "{}", delta=args.delta, blank=args.blank)
        if args.json:
            print_json({"model": loaded.id} | res.to_dict())
            return 0
        d = res.to_dict()
        print(f"{loaded.id}: unit {res.unit} raised by {res.delta:.3g} at {res.layer} on a {res.image} image")
        print(f"best-matching concept '{res.target}': logit {d['target_logit_change']:+.3f} -> "
              f"{'PASS' if res.passed else 'FAIL'}; sign agreement with the bilinear prediction "
              f"{d['sign_agreement']:.0%}")
        for r in res.table.itertuples():
            print(f"  {r.concept:<16} alignment {r.alignment:+.3f}  logit {r.logit_before:7.3f} -> {r.logit_after:7.3f}")
        return 0
    if not args.image:
        raise BadInputError("Give an image file, or --causal for the blank-image check.")
    from core.pipeline.images import open_image

    value = args.value
    if args.op == "mean" and value is None and args.artifact:
        from core.pipeline.store import open_artifact

        value = iv.unit_mean(open_artifact(args.artifact, expect=loaded), args.unit)
    edit = iv.make_edit(args.unit, args.op, value)
    res = iv.intervention_effect(loaded, open_image(args.image), [edit], _labels(args.labels), template=args.template)
    if args.json:
        print_json({"model": loaded.id, "image": args.image} | res.to_dict())
        return 0
    d = res.to_dict()
    print(f"{loaded.id}: {edit.describe()} at {res.layer}; unit max {d['unit_before'][edit.unit]:.3f} -> "
          f"{d['unit_after'][edit.unit]:.3f}; top class {d['top_before']} -> {d['top_after']}")
    for r in res.table.head(10).itertuples():
        print(f"  {r.label:<16} {r.prob_before:6.1%} -> {r.prob_after:6.1%}  ({r.delta:+.1%})")
    return 0

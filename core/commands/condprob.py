"""``python -m core condprob --index DIR --neuron U``: a neuron's conditional-probability table (article §6)."""
from __future__ import annotations

from core.cli import SEED, add_model_args, bounded_int

NAME = "condprob"
HELP = ("conditional probability of a neuron over an indexed collection: which categories fill each uniform "
        "activation bucket (x in std from zero), and each category's activation distribution")


def configure(parser) -> None:
    parser.add_argument("--index", required=True, metavar="DIR", help="artifact directory made by `python -m core index`")
    parser.add_argument("--neuron", required=True, help="UNIT of the collection's layer (or LAYER:UNIT)")
    parser.add_argument("--buckets", type=bounded_int(1, 50), default=10, help="uniform activation buckets (default 10)")
    parser.add_argument("--per", type=bounded_int(1, 1000), default=50,
                        help="images sampled per bucket (default 50; sparse buckets keep all theirs)")
    parser.add_argument("--top", type=bounded_int(1, 1000), default=10,
                        help="categories shown; the rest are grouped as (other) (default 10)")
    parser.add_argument("--seed", type=SEED, default=0, help="seed of the per-bucket sample")
    parser.add_argument("--classes", default=None, help="comma-separated categories: label the images zero-shot "
                        "(needs the model) instead of using the collection's labels")
    parser.add_argument("--template", default=None, help="zero-shot prompt with one {} (with --classes)")
    add_model_args(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def parse_unit(text: str, layer: str, units: int) -> int:
    """``U`` or ``LAYER:U`` (the collection's layer) -> a unit index of the collection."""
    from core.errors import BadInputError, UnitOutOfRangeError

    text = text.strip()
    named, sep, raw = text.rpartition(":")
    if sep and named != layer:
        raise BadInputError(f"The collection holds layer {layer}, not {named}; give just the unit number.")
    try:
        unit = int(raw)
    except ValueError:
        raise BadInputError(f"--neuron {text!r} is not a unit number (e.g. 89) or LAYER:UNIT.") from None
    if not 0 <= unit < units:
        raise UnitOutOfRangeError(f"Unit {unit} is out of range: valid units are 0..{units - 1}.")
    return unit


def table(art, unit: int, *, buckets: int, per: int, top: int, seed: int, labels) -> dict:
    """The condprob result as plain data (the ``--json`` output and the text table's source)."""
    import numpy as np

    from core.analyses import condprob
    from core.analyses.neuron_card import unit_values

    values = unit_values(art, unit)
    std = float(art.unit_std[unit])
    sample = condprob.sample_buckets(values, labels, buckets=buckets, per_bucket=per, std=std, seed=seed, keep=top)
    frac = condprob.category_fractions(sample)
    dist = condprob.category_distributions(values, labels if labels is not None else [condprob.UNLABELLED] *
                                           len(values), std=std, keep=top)
    rows = []
    for b, g in frac.groupby("bucket", sort=True):
        first = g.iloc[0]
        rows.append({"bucket": int(b), "left": float(first["left"]), "right": float(first["right"]),
                     "n": int(first["n"]), "fractions": {str(r.label): round(float(r.fraction), 4)
                                                          for r in g.itertuples() if r.count > 0}})
    summary = condprob.category_summary(dist)
    return {"index": str(art.path), "model": art.model_id, "layer": art.layer, "unit": unit,
            "std": round(std if std > 0 else condprob.std_from_zero(values), 6),
            "min": float(np.min(values)), "max": float(np.max(values)), "buckets": rows,
            "categories": [{k: (round(float(v), 4) if k != "label" and k != "n" else
                                (int(v) if k == "n" else str(v))) for k, v in r.items()}
                           for r in summary.to_dict(orient="records")]}


def run(args) -> int:
    from pathlib import Path

    from core.cli import print_json
    from core.pipeline.store import open_artifact

    art = open_artifact(Path(args.index).expanduser())
    unit = parse_unit(args.neuron, art.layer, art.units)
    labels, source = art.labels, "collection"
    if args.classes is not None:
        labels, source = zero_shot(args, art), "zero-shot"
    out = table(art, unit, buckets=args.buckets, per=args.per, top=args.top, seed=args.seed, labels=labels)
    out |= {"labels": source if labels is not None else "none"}
    if args.json:
        print_json(out)
        return 0
    print(f"{out['model']} · {out['layer']} unit {unit} · {art.rows} images · x = activation / {out['std']:.4g} "
          f"(std) · labels: {out['labels']}")
    for b in out["buckets"]:
        parts = ", ".join(f"{k} {v:.0%}" for k, v in sorted(b["fractions"].items(), key=lambda kv: -kv[1]))
        print(f"  bucket {b['bucket']:>2}  {b['left']:+7.2f} .. {b['right']:+7.2f} std  n={b['n']:<5} {parts}")
    print("per category (std units), by median:")
    for c in out["categories"]:
        print(f"  {c['label']:<24} n={c['n']:<6} median {c['median']:+.2f}  max {c['max']:+.2f}")
    return 0


def zero_shot(args, art) -> list[str]:
    """Zero-shot labels of every row over ``--classes`` (the model of the collection unless --model)."""
    import numpy as np

    from core.analyses.condprob import label_rows
    from core.analyses.zeroshot import build_classifier, parse_class_list
    from core.cli import load_model_from_args

    loaded = load_model_from_args(args, default_model=art.model_id)
    clf = build_classifier(loaded, parse_class_list(args.classes), args.template)
    return label_rows(np.asarray(art.embeddings, np.float32), clf.text_emb, clf.classes,
                            scale=clf.scale)["label"].tolist()

"""``python -m core card``: the data of one neuron's card over an indexed collection (no model, no images needed)."""
from __future__ import annotations

from core.cli import INT

NAME = "card"
HELP = "one neuron's card data over an indexed collection: top/bottom rows, histogram, samples across the range"


def configure(parser) -> None:
    parser.add_argument("--index", required=True, help="artifact directory made by `python -m core index`")
    parser.add_argument("--neuron", type=INT, required=True, help="unit index")
    parser.add_argument("--top", type=INT, default=12, help="most-activating rows (default 12)")
    parser.add_argument("--bottom", type=INT, default=6, help="most negative rows (default 6)")
    parser.add_argument("--buckets", type=INT, default=6, help="uniform buckets across the range (default 6)")
    parser.add_argument("--per-bucket", type=INT, default=2, help="rows sampled per bucket (default 2)")
    parser.add_argument("--bins", type=INT, default=40, help="histogram bins (default 40)")
    parser.add_argument("--similar", type=INT, default=8, help="similar units by activation (default 8)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args) -> int:
    from collections import Counter

    from core.analyses.neuron_card import activation_histogram, card_frames, unit_values
    from core.cli import print_json
    from core.errors import BadInputError
    from core.pipeline.store import open_artifact

    for name in ("top", "bottom", "buckets", "per_bucket", "bins", "similar"):
        if not 0 <= getattr(args, name) <= 10_000:
            raise BadInputError(f"--{name.replace('_', '-')} must be between 0 and 10000 (got {getattr(args, name)}).")
    art = open_artifact(args.index)
    f = card_frames(art, args.neuron, top_k=args.top, bottom_k=args.bottom, buckets=max(1, args.buckets),
                    per_bucket=args.per_bucket, similar=args.similar)
    hist = f.histogram if args.bins == 40 else activation_histogram(unit_values(art, args.neuron), bins=max(1, args.bins),
                                                                      std=float(art.unit_std[args.neuron]))
    mean, std = float(art.unit_mean[args.neuron]), float(art.unit_std[args.neuron])
    top_labels = Counter(str(x) for x in f.top["label"] if str(x)).most_common()
    out = {"index": str(art.path), "model": art.model_id, "layer": art.layer, "neuron": f.unit, "rows": art.rows,
           "mean": mean, "std": std, "grid": list(art.grid), "top": _rows(art, f.top), "bottom": _rows(art, f.bottom),
           "across": _rows(art, f.across, extra=("z", "bucket", "lo_z", "hi_z")),
           "histogram": _records(hist), "top_labels": [{"label": k, "count": v} for k, v in top_labels],
           "similar": _records(f.similar), "similar_rows": f.similar_rows, "similar_sampled": f.similar_sampled}
    if args.json:
        print_json(out)
        return 0
    print(f"neuron {f.unit} of {art.layer} over {art.rows:,} images ({art.path}): mean {mean:+.4g}, std {std:.4g}")
    for title, frame in (("top", f.top), ("bottom", f.bottom), ("across the range", f.across)):
        print(f"\n{title}:")
        cols = [c for c in ("row", "value", "z", "bucket", "argmax", "label", "key") if c in frame]
        print(frame[cols].to_string(index=False, float_format=lambda v: f"{v:+.4g}"))
    print("\nhistogram:")
    print(hist[["lo", "hi", "count"]].to_string(index=False, float_format=lambda v: f"{v:+.4g}"))
    if top_labels:
        print("\ntop labels: " + ", ".join(f"{k} ({v})" for k, v in top_labels))
    sampled = f" (sample of {f.similar_rows:,} images)" if f.similar_sampled else ""
    print(f"\nsimilar by activation{sampled}: " + ", ".join(f"{int(u)} ({c:+.3f})" for u, c in
                                                          zip(f.similar["unit"], f.similar["correlation"])))
    return 0


def _cell(art, flat: int) -> list[int] | None:
    """``[y, x]`` of a flat argmax position on the grid (None for a ViT's class token)."""
    offset = 1 if art.manifest.get("layout") == "BLD" else 0
    if len(art.grid) != 2 or not 0 <= flat - offset < art.grid[0] * art.grid[1]:
        return None
    return list(divmod(flat - offset, int(art.grid[1])))


def _rows(art, frame, extra=()) -> list[dict]:
    return [{"row": int(r["row"]), "key": str(r["key"]), "label": str(r["label"]), "value": float(r["value"]),
             "argmax": int(r["argmax"]), "cell": _cell(art, int(r["argmax"])),
             **{k: (float(r[k]) if k != "bucket" else int(r[k])) for k in extra}} for _, r in frame.iterrows()]


def _records(frame) -> list[dict]:
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in frame.to_dict(orient="records")]

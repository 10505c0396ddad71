"""``python -m core check-paper``: the article's cited units against their top rastered words."""
from __future__ import annotations

from core.cli import INT, add_model_args

NAME = "check-paper"
HELP = ("check the article's cited RN50x4 units against their top rastered words, or (--regions) its published "
        "region maps (needs the real weights; --self-consistency tests the machinery on any model)")


def configure(parser) -> None:
    add_model_args(parser)
    parser.set_defaults(model=None)
    parser.add_argument("--k", type=INT, default=10, help="pass when an article word is in the unit's top K words")
    parser.add_argument("--units", default="", help="comma-separated cited units to check (default all)")
    parser.add_argument("--quick", action="store_true", help="small vocabulary (~900 words) instead of ~12,000")
    parser.add_argument("--self-consistency", action="store_true",
                        help="run the machinery on this model (default demo): units against their own top word "
                             "and against a shuffled assignment")
    parser.add_argument("--regions", action="store_true",
                        help="instead: Spearman correlation of this model's country-name responses with the article's "
                             "published ones (country.npy) for each of its units of this model (RN50x4 or RN50)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _progress(done: int, total: int) -> None:
    import sys

    print(f"\rrastered words {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)


def _print(check) -> None:
    s = check.summary
    print(f"{check.model}  {check.layer}  [{check.mode}]")
    print(f"{'unit':>5}  {'pass':<4}  {'rank':>5}  {'unit rank':>9}  {'label':<28} {'article words':<34} found here")
    for r in check.table.itertuples():
        rank = "-" if r.best_rank != r.best_rank or r.best_rank is None else str(int(r.best_rank))
        urank = "-" if r.unit_rank != r.unit_rank or r.unit_rank is None else str(int(r.unit_rank))
        print(f"{r.unit:>5}  {'PASS' if r.passed else 'fail':<4}  {rank:>5}  {urank:>9}  {str(r.label)[:28]:<28} "
              f"{r.expected[:34]:<34} {r.found}")
    print(f"passed {s['passed']}/{s['total']} ({s['rate']:.0%}); chance {s['chance']:.1%} "
          f"(top-{s['k']} of {s['vocabulary']} words)")


def run(args) -> int:
    from core.analyses import paper
    from core.cli import load_model_from_args, model_id_from_args, print_json
    from core.errors import BadCheckpointError, BadInputError, WeightsUnavailableError

    progress = None if args.json else _progress
    if args.regions:
        return _regions(args, progress)
    if args.self_consistency:
        loaded = load_model_from_args(args)
        true, fake = paper.self_check(loaded, progress=progress)
        if args.json:
            print_json({"true": true.to_dict(), "shuffled": fake.to_dict()})
        else:
            _print(true)
            _print(fake)
        return 0 if true.summary["rate"] == 1.0 and fake.summary["passed"] == 0 else 1
    if model_id_from_args(args) is None:
        args.model = paper.ARTICLE_MODEL
    try:
        loaded = load_model_from_args(args)
    except BadCheckpointError:
        raise  # a file that is there but wrong: its own message says what to fix
    except WeightsUnavailableError as err:
        raise WeightsUnavailableError(
            f"check-paper needs the article's RN50x4 weights. {err} Then run: python -m core check-paper "
            "--checkpoint /path/to/RN50x4.pt --arch RN50x4") from err
    try:
        units = [int(u) for u in args.units.replace(" ", "").split(",") if u]
    except ValueError as err:
        raise BadInputError(f"--units takes comma-separated unit numbers, e.g. 550,713 (got '{args.units}').") from err
    check = paper.check_paper(loaded, k=args.k, units=units, quick=args.quick, progress=progress)
    if args.json:
        print_json(check.to_dict())
    else:
        _print(check)
    return 0


def _print_regions(title: str, table) -> None:
    print(title)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"passed {int(table['passed'].sum())}/{len(table)} (rho_country >= the threshold and the unit's own "
          "published profile is its best match)\n")


def _regions(args, progress) -> int:
    """``--regions``: the region maps against the article's published data (or against themselves)."""
    from core.analyses import region_checks, regions
    from core.cli import load_model_from_args, model_id_from_args, print_json
    from core.errors import WeightsUnavailableError

    if args.self_consistency:
        loaded = load_model_from_args(args)
        lr = regions.layer_regions(loaded, progress=progress)
        true, fake = region_checks.self_consistency(lr)
        if args.json:
            print_json({"model": loaded.id, "layer": lr.layer, "true": true.to_dict(orient="records"),
                        "shuffled": fake.to_dict(orient="records")})
        else:
            _print_regions(f"{loaded.id}  {lr.layer}  [self-consistency: own responses]", true)
            _print_regions(f"{loaded.id}  {lr.layer}  [self-consistency: shuffled assignment]", fake)
        return 0 if true["passed"].all() and not fake["passed"].all() else 1
    if model_id_from_args(args) is None:
        args.model = "RN50x4/openai"
    try:
        loaded = load_model_from_args(args)
    except WeightsUnavailableError as err:
        raise WeightsUnavailableError(
            f"check-paper --regions needs the article's RN50x4 (or RN50) weights. {err} Then run: python -m core "
            "check-paper --regions --checkpoint /path/to/RN50x4.pt --arch RN50x4, or test the machinery on any "
            "model with --regions --self-consistency") from err
    from core.analyses import geo

    if geo.slug_for_arch(loaded.spec.arch) is None or loaded.spec.kind == "random":
        region_checks.check_published(loaded, None)  # raises the explanation
    lr = regions.layer_regions(loaded, progress=progress)
    table = region_checks.check_published(loaded, lr)
    if args.json:
        print_json({"model": loaded.id, "layer": lr.layer, "min_rho": region_checks.MIN_RHO,
                    "units": table.to_dict(orient="records")})
    else:
        _print_regions(f"{loaded.id}  {lr.layer}  [the article's published region responses]", table)
    return 0

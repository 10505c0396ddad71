"""``python -m core render --model M --neuron L:U --out FILE.png``: feature visualization of a neuron."""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from core.cli import SEED, add_model_args, bounded_int, finite_float

if TYPE_CHECKING:
    from core.model.loading import LoadedModel

NAME = "render"
HELP = "render a feature visualization of a neuron (cached on disk) and save it as PNG"


def configure(parser) -> None:
    add_model_args(parser)
    parser.add_argument("--neuron", required=True, help="LAYER:UNIT (see `python -m core layers`), or just UNIT "
                        "for the article's layer")
    parser.add_argument("--steps", type=bounded_int(1, 100_000), default=256, help="optimisation steps (default 256)")
    parser.add_argument("--seed", type=SEED, default=0, help="random seed (same seed, same image)")
    parser.add_argument("--facet", default=None, help="faceted FV: 'text' or a demo-corpus category, e.g. flag")
    parser.add_argument("--strength", type=finite_float(), default=2.0, help="facet strength (default 2)")
    parser.add_argument("--size", type=bounded_int(8, 4096), default=None, help="image size (default: the model's input size)")
    parser.add_argument("--batch", type=bounded_int(1, 256), default=1, help="images rendered together, saved side by side")
    parser.add_argument("--param", default="fft", choices=["fft", "pixel"], help="image parametrization")
    parser.add_argument("--diversity", type=finite_float(0, 100), default=None, metavar="WEIGHT",
                        help="diversity render: WEIGHT x batch dissimilarity added to the objective (needs --batch 2+)")
    parser.add_argument("--no-cache", action="store_true", help="render again even if a cached result exists")
    parser.add_argument("--out", required=True, help="output PNG file")
    parser.add_argument("--json", action="store_true", help="machine-readable summary")


def neuron_arg(loaded: LoadedModel, text: str) -> str:
    """``UNIT`` alone means a unit of the article's layer."""
    from core.model.hooks import article_layer, resolve_neuron

    text = text.strip()
    if text.lstrip("-").isdigit():
        text = f"{article_layer(loaded)}:{text}"
    return str(resolve_neuron(loaded, text))


def run(args) -> int:
    from pathlib import Path

    import numpy as np
    from PIL import Image

    from core.cli import load_model_from_args, print_json
    from core.errors import BadInputError, CoreError
    from core.featurevis import channel
    from core.featurevis.cache import cached_render
    from core.featurevis.facets import faceted_objective
    from core.featurevis.render import render
    from core.model.hooks import NeuronRef

    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise BadInputError(f"--out must be a .png file, got {out}.")
    if not out.parent.is_dir():  # never create directories the user did not ask for
        raise BadInputError(f"--out {out}: the folder {out.parent} does not exist; create it first or choose "
                            "another path.")
    if out.is_dir():
        raise BadInputError(f"--out {out} is a directory; give a .png file path.")
    if args.diversity:
        from core.featurevis.diverse import check_batch

        check_batch(args.batch)  # before the model loads
    loaded = load_model_from_args(args)
    ref = NeuronRef.parse(neuron_arg(loaded, args.neuron))
    obj = channel(ref.layer, ref.unit)
    if args.diversity:
        from core.featurevis.diverse import diversity_objective

        obj = diversity_objective(ref.layer, ref.unit, weight=args.diversity)
    if args.facet:
        obj = faceted_objective(loaded, obj, args.facet, strength=args.strength)
    every = max(1, args.steps // 10)

    def progress(step: int, total: int, loss: float) -> None:
        if step % every == 0 or step == total:
            print(f"step {step}/{total}  objective {-loss:.4f}", file=sys.stderr)

    kw = dict(steps=args.steps, seed=args.seed, size=args.size, batch=args.batch, param=args.param)
    result = render(loaded, obj, on_step=progress, **kw) if args.no_cache else \
        cached_render(loaded, obj, on_step=progress, **kw)
    if not np.isfinite(result.images).all() or not np.isfinite(result.losses[-1]):
        raise CoreError(f"The render of {ref} diverged (non-finite values); nothing was saved. Try a smaller "
                        "--strength, fewer --steps or another --seed.")
    images = result.to_pil()
    sheet = Image.new("RGB", (sum(im.width for im in images), images[0].height), (255, 255, 255))
    for i, im in enumerate(images):
        sheet.paste(im, (i * im.width, 0))
    from core.featurevis.png import provenance, save_png

    save_png(out, sheet, provenance(loaded, result.objective, result.seed, layer=ref.layer, unit=ref.unit,
                                    steps=result.steps_done, batch=len(images)))
    summary = {"model": loaded.id, "neuron": str(ref), "objective": result.objective, "steps": result.steps,
               "seed": result.seed, "final_objective": -result.losses[-1], "cached": bool(result.meta.get("cached")),
               "seconds": round(result.seconds, 2), "out": str(out)}
    if args.json:
        print_json(summary)
    else:
        print(f"{summary['objective']}: objective {summary['final_objective']:.4f} after {result.steps} steps"
              f"{' (cached)' if summary['cached'] else ''} -> {out}")
    return 0

"""``python -m core index``: extract a layer's activations over an image collection and build its FAISS index."""
from __future__ import annotations

import sys
from collections import Counter

from core.cli import INT, add_model_args, finite_float

NAME = "index"
HELP = "extract activations + embeddings of an image collection into an artifact (resumable) and index it"


def configure(parser) -> None:
    add_model_args(parser)
    parser.add_argument("--images", required=True, help="folder of images (sub-folders = labels) or a CSV/parquet "
                        "with a path column (+ optional label, caption), or shards of such tables: a quoted glob "
                        "('shards/*.parquet') or a .txt listing them")
    parser.add_argument("--out", required=True, help="artifact directory (an interrupted run there is resumed)")
    parser.add_argument("--layer", default=None, help="layer id (default: the article's layer; see `layers`)")
    parser.add_argument("--batch-size", type=INT, default=None,
                        help="images per forward pass (default 64; 256 with --device cuda)")
    parser.add_argument("--workers", type=INT, default=None,
                        help="image-decoding worker processes (default: 0 on <= 2 cores, else cores - 2, at most 4; "
                        "with --device cuda: cores - 2, at most 32)")
    parser.add_argument("--decode", choices=("cpu", "gpu"), default="cpu",
                        help="where JPEGs are decoded and preprocessed: cpu (PIL in the workers, default) or gpu "
                        "(torchvision's nvJPEG on the --device cuda GPU; within a documented tolerance of the "
                        "PIL path, docs/performance.md)")
    parser.add_argument("--topk", type=INT, default=64, help="top/bottom rows kept per unit (default 64)")
    parser.add_argument("--index-kind", choices=("auto", "flat", "ivf", "ivfpq"), default="auto",
                        help="FAISS index: exact (flat), approximate (ivf: IVF-Flat) or by size (auto, default: exact "
                        "below 50k images, IVF-PQ re-ranked exactly against the embeddings above); ivfpq: the "
                        "same IVF-PQ built in bounded memory (core/pipeline/merge.py), recall@10 measured")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing artifact (kept until the new one is "
                        "complete) or an unfinished run with other settings")
    parser.add_argument("--chunk-rows", type=INT, default=1024, help="rows per committed chunk (resume granularity)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print a machine-readable summary")
    # scale-out (core/pipeline/ray_engine.py, docs/scaling.md); Ray is imported only with --engine ray
    parser.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="local (default) or ray: model actors on a Ray cluster, same artifact")
    parser.add_argument("--address", default=None, help="Ray cluster address (auto, ray://head:10001); "
                        "default: start a local Ray instance")
    parser.add_argument("--num-gpus-per-worker", type=finite_float(), default=0, help="GPUs per Ray model actor (default 0)")
    parser.add_argument("--cpus-per-worker", type=finite_float(), default=1, help="CPUs (= torch threads) per Ray actor")
    parser.add_argument("--ray-workers", type=INT, default=None, help="Ray model actors (default: fill the cluster)")


def run(args) -> int:
    from tqdm import tqdm

    from core.cli import load_model_from_args, print_json
    from core.pipeline.extract import run_extraction
    from core.pipeline.index import ensure_index

    loaded = load_model_from_args(args)
    if args.engine == "ray" and (args.decode != "cpu" or (args.precision or "auto") not in ("auto", "fp32")):
        from core.errors import BadInputError

        raise BadInputError("--decode gpu and --precision apply to --engine local; Ray workers run float32 with "
                            "CPU decoding.")
    if args.batch_size is None:  # a GPU needs bigger batches to stay busy; CPU results keep their old partition
        args.batch_size = 256 if loaded.device.type == "cuda" else 64
    bar = tqdm(total=0, unit="img", desc="extracting", file=sys.stderr, disable=args.no_progress or None,
               dynamic_ncols=True)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        if args.engine == "ray":
            from core.pipeline.ray_engine import run_from_args

            art = run_from_args(loaded, args, progress)
        else:
            from core.pipeline.ray_engine import read_image_list  # folder, table, or shards (no Ray import)

            art = run_extraction(loaded, read_image_list(args.images), args.out, layer=args.layer,
                                 batch_size=args.batch_size,
                                 workers=args.workers, topk=args.topk, progress=progress, chunk_rows=args.chunk_rows,
                                 overwrite=args.overwrite, precision=args.precision, decode=args.decode)
    finally:
        bar.close()
    if args.index_kind == "ivfpq":
        from core.pipeline.merge import ensure_pq_index

        idx = ensure_pq_index(art)
    else:
        idx = ensure_index(art, kind=args.index_kind)
    reasons = Counter(s["reason"] for s in art.skipped)
    if args.json:
        print_json({"out": str(art.path), "model": art.model_id, "layer": art.layer, "rows": art.rows,
                    "units": art.units, "grid": list(art.grid), "index": idx.kind, "skipped": art.skipped,
                    "precision": art.manifest.get("precision", "fp32")})
        return 0
    print(f"{art.rows} images -> {art.path} (model {art.model_id}, layer {art.layer}, {art.units} units, "
          f"grid {'x'.join(map(str, art.grid))}, {idx.kind} index)")
    if "recall@10" in idx.meta:
        print(f"approximate index {idx.meta.get('factory')}: recall@10 {idx.meta['recall@10']:.3f} vs exact search "
              f"({idx.meta.get('recall_queries')} sample queries)")
    if art.skipped:
        print(f"skipped {len(art.skipped)} files: " + ", ".join(f"{v} {k}" for k, v in reasons.most_common()))
        for s in art.skipped[:20]:
            print(f"  {s['key']}: {s['reason']}")
        if len(art.skipped) > 20:
            print(f"  ... (all listed in {art.path / 'skipped.json'})")
    return 0

"""Extraction throughput as a ratio to the bare model forward on pre-decoded tensors, measured in one run.

Both sides use the same model, device, precision and batch size: "bare" times ``model.encode_image`` on
tensors decoded and preprocessed beforehand and already on the device (no hooks, no I/O); "extract" times
``run_extraction`` end to end on the JPEG files (DataLoader decoding, copies to the device, hooked forward,
reductions, row writes, finalize). Targets: >= 0.85 (2 CPU cores; one H100 with 16 cores), and on the H100
>= 1,500 img/s end to end for RN50x4 at 288 px.

    python benchmarks/bench_extract.py [--model RN50/random] [--images 96] [--workers 0 1 2]      # CPU
    python benchmarks/bench_extract.py --device cuda [--images 20000] [--decode cpu gpu] [--agreement] [--latency]

With ``--device cuda`` the defaults become RN50x4/random (288 px), 20,000 generated 500x375 JPEGs, batch 256,
the automatic worker count and precision (float16 autocast), both decoders. ``--agreement`` also extracts the
collection in float32 and prints ``core.pipeline.extract.topk_agreement`` (target: top-k rows identical for >= 99 % of
units); ``--agreement-demo`` does the same on the shipped demo corpus. ``--latency`` times the dashboard's
server-side work with the model on the device: a neuron card's data
(``ui.html.build_card`` and its zero-shot labels) and a text search (``core.model.embed.encode_text`` ->
``core.analyses.search.neurons_for_embedding`` + ``images_for_embedding``), as ``ui.resources`` calls them.
``--json FILE`` writes every figure. ``benchmarks/gpu_check.sh`` runs the whole GPU check in one go.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

QUERIES = ("spider", "a photo of a cat", "Barack Obama", "the Eiffel tower", "happy", "a red car", "christmas tree",
           "sunset over the sea", "text that says stop", "a bowl of soup", "lion", "guitar", "rainbow flag", "snow",
           "a painting of a dog", "pizza", "New York City", "surprised face", "mountain", "birthday cake")


def _write_jpegs(args) -> None:
    import numpy as np
    from PIL import Image

    root, start, stop, width, height = args
    rng = np.random.default_rng(start)
    yy, xx = np.mgrid[0:height, 0:width]
    for i in range(start, stop):
        d = Path(root) / f"c{i % 4}"
        d.mkdir(parents=True, exist_ok=True)
        base = (np.sin(xx / (7 + i % 13)) + np.cos(yy / (5 + i % 7)))[..., None] * 60 + 128
        arr = np.clip(base + rng.normal(0, 20, (height, width, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(arr).save(d / f"{i:05d}.jpg", quality=90)


def make_jpegs(root: Path, n: int, width: int = 500, height: int = 375, procs: int = 1) -> None:
    """Photo-sized JPEGs (smooth gradients + noise) so decoding costs what real photos cost; ``procs`` processes."""
    step = max(1, -(-n // max(procs, 1)))
    parts = [(str(root), s, min(s + step, n), width, height) for s in range(0, n, step)]
    if procs <= 1 or len(parts) == 1:
        for p in parts:
            _write_jpegs(p)
        return
    with ProcessPoolExecutor(procs) as pool:
        list(pool.map(_write_jpegs, parts))


def photo_folder(path: Path | None, n: int, width: int, height: int, tmp: Path) -> Path:
    """``path`` if it already holds ``n`` JPEGs (reused between runs), else generated there (or in ``tmp``)."""
    root = path or tmp / "images"
    if path is not None and len(list(root.rglob("*.jpg"))) == n:
        return root
    if root.exists():
        shutil.rmtree(root)
    t0 = time.perf_counter()
    make_jpegs(root, n, width, height, procs=os.cpu_count() or 1)
    print(f"generated {n} JPEGs {width}x{height} in {time.perf_counter() - t0:.1f} s -> {root}", flush=True)
    return root


def _sync(device) -> None:
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def bare_forward(loaded, tensors, batch_size: int, precision: str = "fp32", min_images: int = 0) -> float:
    """img/s of ``encode_image`` alone on ``tensors`` (already on the device), cycled to ``min_images``."""
    import torch

    from core.model.devices import autocast

    total = max(len(tensors), min_images)
    with torch.inference_mode(), autocast(loaded.device, precision):
        loaded.model.encode_image(tensors[:batch_size])  # warm-up
        loaded.model.encode_image(tensors[:batch_size])
        _sync(loaded.device)
        t0 = time.perf_counter()
        done = 0
        while done < total:
            s = done % len(tensors)
            batch = tensors[s:s + batch_size]
            loaded.model.encode_image(batch)
            done += len(batch)
        _sync(loaded.device)
    return done / (time.perf_counter() - t0)


def pct(values, q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def latency(loaded, art, report: dict) -> None:
    """The dashboard's server-side card and text-search work with the model where ``loaded`` lives."""
    import numpy as np

    from core.analyses import neuron_card
    from core.analyses.search import images_for_embedding, neuron_directions, neurons_for_embedding
    from core.analyses.zeroshot import class_embeddings, default_template
    from core.model.embed import encode_text
    from core.pipeline.index import ensure_index
    from ui import html as card

    index = ensure_index(art)
    t0 = time.perf_counter()
    z = neuron_card.standardize(art.max)
    directions = np.asarray(neuron_directions(loaded, art.layer), dtype=np.float32)
    phrases = neuron_card.load_label_phrases()
    vocab = np.asarray(class_embeddings(loaded, phrases, default_template(loaded)))
    once = time.perf_counter() - t0
    units = np.random.default_rng(0).choice(art.units, size=min(20, art.units), replace=False)
    card.build_card(art, int(units[0]), standardized=z)  # warm-up (file cache, first JPEG encoder call)
    cards = []
    for u in units:
        t0 = time.perf_counter()
        card.build_card(art, int(u), standardized=z)
        neuron_card.zero_shot_labels(directions[int(u)], vocab, phrases, top=8)
        cards.append((time.perf_counter() - t0) * 1000)
    for q in QUERIES[:3]:  # warm-up
        encode_text(loaded, [q], fast=True)
    search = []
    for q in QUERIES:
        t0 = time.perf_counter()
        emb = encode_text(loaded, [q], fast=True)[0].numpy()
        neurons_for_embedding(loaded, emb, art.layer, 10)
        images_for_embedding(loaded, art, index, emb, 12)
        search.append((time.perf_counter() - t0) * 1000)
    report["latency"] = {"card_p50_ms": statistics.median(cards), "card_p90_ms": pct(cards, 0.9),
                         "search_p50_ms": statistics.median(search), "search_p90_ms": pct(search, 0.9),
                         "once_per_model_s": once, "vocabulary": len(phrases), "index": index.kind}
    lat = report["latency"]
    print(f"dashboard, model on {loaded.device}: neuron card data (build_card + zero-shot labels) p50 "
          f"{lat['card_p50_ms']:.1f} ms, p90 {lat['card_p90_ms']:.1f} ms over {len(cards)} units; text search "
          f"(encode + neurons + {lat['index']} kNN) p50 {lat['search_p50_ms']:.1f} ms, p90 {lat['search_p90_ms']:.1f} "
          f"ms over {len(search)} queries; once per model (directions, {len(phrases)}-phrase vocabulary) "
          f"{once:.1f} s", flush=True)


def decode_difference(loaded, files, report: dict) -> None:
    """How far ``--decode gpu``'s pixels are from the PIL path's on ``files`` (normalised units), printed."""
    import torch

    from core.pipeline import fast_decode
    from core.pipeline.images import open_image

    spec = fast_decode.standard_transform(loaded)
    decoded = fast_decode.decode([fast_decode.jpeg_bytes(f) for f in files], loaded.device)
    if spec is None or any(d is None for d in decoded):
        print("GPU decoding: not available for these files", flush=True)
        return
    ours = fast_decode.preprocess(decoded, spec).cpu()
    pil = torch.stack([loaded.preprocess(open_image(f)) for f in files])
    diff = (ours - pil).abs()
    levels = diff * torch.tensor(spec["std"]).view(1, 3, 1, 1) * 255  # back to uint8 levels
    report["decode_difference"] = {"images": len(files), "max": float(diff.max()), "mean": float(diff.mean()),
                                   "p999": float(diff.flatten().kthvalue(int(0.999 * diff.numel())).values),
                                   "max_levels": float(levels.max()), "mean_levels": float(levels.mean()),
                                   "tolerance": fast_decode.TOLERANCE, "mean_tolerance": fast_decode.MEAN_TOLERANCE}
    d = report["decode_difference"]
    print(f"GPU decoding vs PIL on {len(files)} photos: max |diff| {d['max']:.4f} (normalised; {d['max_levels']:.1f} "
          f"uint8 levels), 99.9th percentile {d['p999']:.4f}, mean {d['mean']:.5f} ({d['mean_levels']:.2f} levels); "
          f"documented tolerance max {d['tolerance']}, mean {d['mean_tolerance']}", flush=True)


def agreement(ref, art, k: int, what: str) -> dict:
    """``topk_agreement`` of ``art`` against its float32 twin ``ref``, printed."""
    from core.pipeline.agreement import AGREEMENT_TARGET, topk_agreement

    res = topk_agreement(ref, art, k=min(k, art.rows))
    res["compared"] = (f"{art.manifest['precision']} vs fp32 on {what}, "
                       f"decode={'gpu' if 'decode' in art.manifest['preprocess'] else 'cpu'}")
    res["target_met"] = res["identical"] >= AGREEMENT_TARGET
    print(f"agreement {res['compared']}: top-{res['k']} rows identical for {100 * res['identical']:.2f} % of "
          f"{res['units']} units over {res['rows']} rows (same order {100 * res['identical_order']:.2f} %; mean "
          f"overlap {res['mean_overlap']:.4f}, worst {res['worst_overlap']:.3f}); largest top-cell difference "
          f"{res['max_abs_diff']:.4f} unit std; lowest embedding cosine {res['emb_cosine_min']:.5f}; target >= "
          f"{100 * AGREEMENT_TARGET:.0f} %: {'met' if res['target_met'] else 'NOT met'}", flush=True)
    return res


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N")
    ap.add_argument("--model", default=None, help="default: RN50/random on CPU, RN50x4/random on CUDA")
    ap.add_argument("--images", type=int, default=None, help="JPEGs generated (default 96 on CPU, 20000 on CUDA)")
    ap.add_argument("--photo", default="500x375", help="generated JPEG size WxH (default 500x375)")
    ap.add_argument("--photos", type=Path, default=None, help="keep the generated JPEGs here and reuse them")
    ap.add_argument("--batch-size", type=int, default=None, help="default 32 on CPU, 256 on CUDA")
    ap.add_argument("--workers", type=int, nargs="+", default=None,
                    help="decoding workers to try (default: 0 1 2 on CPU; the automatic count on CUDA)")
    ap.add_argument("--precision", default="auto", help="auto (default), fp32, amp, fp16, bf16")
    ap.add_argument("--decode", nargs="+", default=None, choices=("cpu", "gpu"),
                    help="decoders to time (default: cpu; cpu gpu on CUDA)")
    ap.add_argument("--bare-images", type=int, default=2048, help="images pre-decoded for the bare forward")
    ap.add_argument("--agreement", action="store_true", help="also extract in fp32 and compare top-k rows")
    ap.add_argument("--agreement-k", type=int, default=12)
    ap.add_argument("--agreement-demo", action="store_true",
                    help="also compare on the shipped demo corpus (2,586 drawn pictures, more varied than the photos)")
    ap.add_argument("--latency", action="store_true", help="time the dashboard's card and search with the model")
    ap.add_argument("--channels-last", action="store_true", help="convert the model to channels_last (convnets)")
    ap.add_argument("--tiny", action="store_true", help="register the test suite's tiny configs first")
    ap.add_argument("--json", type=Path, default=None, help="write every figure to this file")
    args = ap.parse_args(argv)
    import torch

    from core.model.devices import check_device, resolve_precision
    from core.model.loading import load_model
    from core.pipeline.extract import default_workers, run_extraction
    from core.pipeline.images import open_image

    device = check_device(args.device)
    cuda = device.startswith("cuda")
    model_id = args.model or ("RN50x4/random" if cuda else "RN50/random")
    n = args.images or (20000 if cuda else 96)
    batch = args.batch_size or (256 if cuda else 32)
    decoders = args.decode or (["cpu", "gpu"] if cuda else ["cpu"])
    width, height = (int(v) for v in args.photo.lower().split("x"))
    if args.tiny:
        from tests.conftest import register_tiny_configs

        register_tiny_configs()
    tmp = Path(tempfile.mkdtemp(prefix="bench_extract_"))
    images = photo_folder(args.photos, n, width, height, tmp)  # before CUDA starts in this process (fork)
    loaded = load_model(model_id, device=device)
    if args.channels_last:
        loaded.model.to(memory_format=torch.channels_last)
    precision = resolve_precision(args.precision, device)
    workers_list = args.workers or ([default_workers(device)] if cuda else [0, 1, 2])
    gpu_name = torch.cuda.get_device_name(torch.device(device)) if cuda else None
    report = {"device": device, "gpu": gpu_name, "model": model_id, "image_size": loaded.image_size, "images": n,
              "photo": f"{width}x{height}", "batch_size": batch, "precision": precision, "cpus": os.cpu_count(),
              "torch_threads": torch.get_num_threads(), "torch": torch.__version__, "runs": []}
    print(f"model {model_id} ({loaded.image_size} px) on {device}{f' ({gpu_name})' if gpu_name else ''}, "
          f"{precision}, {n} JPEGs {width}x{height}, batch {batch}, torch threads {torch.get_num_threads()}, "
          f"cpus {os.cpu_count()}", flush=True)
    try:
        files = sorted(images.rglob("*.jpg"))[: args.bare_images]
        tensors = torch.stack([loaded.preprocess(open_image(f)) for f in files]).to(device)
        if args.channels_last:
            tensors = tensors.contiguous(memory_format=torch.channels_last)
        if "gpu" in decoders:
            decode_difference(loaded, files[:64], report)
        last = tmp / f"art_{decoders[-1]}_{workers_list[-1]}"  # kept for --agreement / --latency
        for decode in decoders:
            for workers in workers_list:
                bare1 = bare_forward(loaded, tensors, batch, precision, min_images=min(n, 4 * len(tensors)))
                out = tmp / f"art_{decode}_{workers}"
                _sync(device)
                t0 = time.perf_counter()
                art = run_extraction(loaded, images, out, batch_size=batch, workers=workers, overwrite=True,
                                     precision=precision, decode=decode)
                _sync(device)
                ext = n / (time.perf_counter() - t0)
                bare2 = bare_forward(loaded, tensors, batch, precision, min_images=min(n, 4 * len(tensors)))
                bare = (bare1 + bare2) / 2  # bracket the extraction: load drift hits both sides alike
                report["runs"].append({"decode": decode, "workers": workers, "extract_img_s": ext,
                                       "bare_img_s": bare, "ratio": ext / bare})
                print(f"decode={decode} workers={workers}: extraction {ext:7.1f} img/s, bare forward {bare:7.1f} "
                      f"img/s, ratio {ext / bare:.2f}", flush=True)
                if out != last:
                    shutil.rmtree(out, ignore_errors=True)
        if args.agreement or args.latency:
            from core.pipeline.store import open_artifact

            art = open_artifact(last)
        if args.agreement:
            ref = run_extraction(loaded, images, tmp / "fp32", batch_size=batch, workers=workers_list[-1],
                                 precision="fp32", decode=decoders[-1])
            report["agreement"] = agreement(ref, art, args.agreement_k, f"the {n} generated photos")
            shutil.rmtree(tmp / "fp32", ignore_errors=True)
        if args.agreement_demo:
            from core.pipeline.demo import materialize_corpus

            corpus = materialize_corpus(tmp / "demo") / "collection.csv"
            pair = [run_extraction(loaded, corpus, tmp / f"demo_{p}", batch_size=batch, workers=workers_list[-1],
                                   precision=p, decode=decoders[-1]) for p in ("fp32", precision)]
            report["agreement_demo"] = agreement(*pair, args.agreement_k, "the demo corpus (drawn pictures)")
        if args.latency:
            latency(loaded, art, report)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
        print(f"figures written to {args.json}")
    return report


if __name__ == "__main__":
    from core.errors import CoreError

    try:
        main()
    except CoreError as err:  # no CUDA here, a bad option: one line
        sys.exit(f"error: {err}")

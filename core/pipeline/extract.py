"""Activation extraction over an image collection into a resumable, atomic artifact (layout: ``core.pipeline.store``).

Reader (``ImageDataset`` in DataLoader workers: decode + preprocess) -> mapper (hooked forward under
``torch.inference_mode``: spatial max/argmax/mean of one layer + the image embedding) -> writer (row
files in ``.partial/``, committed chunk by chunk with a fsynced state file) -> finalize (``core.pipeline.partial``:
compact away skipped files, per-unit stats and top/bottom-k, manifest written last). Rows are computed in a fixed
batch partition, so a run killed at any moment and rerun produces the same bytes as an uninterrupted one.

On CUDA (``--device cuda``): mixed precision by default (``core.model.devices``; the plan records it, and
``topk_agreement`` measures it against float32), pinned batches copied with ``non_blocking``, more decoding
workers (``default_workers``), the writes of one batch overlapped with the next batch's forward pass, and,
with ``decode="gpu"``, JPEGs decoded and preprocessed on the GPU (``core.pipeline.fast_decode``). On CPU the default
path computes exactly what it did before these options existed. Nothing here imports streamlit.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from core.errors import BadInputError
from core.files import write_json_atomic
from core.model import devices
from core.model.hooks import LayerInfo, article_layer, capture, reduce_positions, resolve_layer
from core.pipeline import fast_decode
from core.pipeline.collection import Collection, read_collection
from core.pipeline.commit import artifact_lock
from core.pipeline.images import BadImageError, open_image
from core.pipeline.layout import PARTIAL_DIR
from core.pipeline.partial import WORK, finalize, n_chunks, open_work, work_file
from core.pipeline.plan import make_plan, prepare_out
from core.pipeline.store import Artifact

if TYPE_CHECKING:
    from core.model.loading import LoadedModel

logger = logging.getLogger(__name__)

CHUNK_ROWS = 1024  # rows per committed chunk (the resume granularity)
F16_MAX = float(np.finfo(np.float16).max)


class ProgressFn(Protocol):
    def __call__(self, done: int, total: int) -> None: ...


CUDA_MAX_WORKERS = 32


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_workers(device="cpu", cpus: int | None = None) -> int:
    """Decoding workers for this machine and device.

    CPU model: none on <= 2 cores, where they only compete with the model's threads (measured:
    benchmarks/bench_extract.py), else up to 4, leaving 2 cores to the forward pass.
    GPU model: the forward pass needs one core to drive the GPU, so every core but two decodes (up to
    ``CUDA_MAX_WORKERS``): PIL decodes and resizes a 500x375 JPEG to 288 px in ~4 ms, so 1,500 img/s needs
    about 6 busy cores and 14 workers on a 16-core box leave headroom for larger photos.
    """
    cpus = _cpus() if cpus is None else cpus
    if torch.device(device).type == "cuda":
        return max(1, min(CUDA_MAX_WORKERS, cpus - 2))
    return 0 if cpus <= 2 else min(4, cpus - 2)


def run_extraction(loaded: LoadedModel, source, out_dir, *, layer: str | None = None, batch_size: int = 64,
                   workers: int | None = None,
                   topk: int = 64, progress: ProgressFn | None = None, chunk_rows: int = CHUNK_ROWS,
                   overwrite: bool = False, precision: str | None = None, decode: str = "cpu") -> Artifact:
    """Extract one layer's per-unit activations and the image embeddings of a collection.

    Args:
        loaded: a ``LoadedModel``.
        source: a folder tree (sub-folders = labels), a CSV/parquet with ``path[,label,caption]``, or a
            ``Collection``.
        out_dir: the artifact directory (created; an unfinished run there is resumed).
        layer: layer id (default: the article's layer, see ``core.model.hooks.article_layer``).
        batch_size: images per forward pass.
        workers: DataLoader worker processes decoding images (0 = decode in this process; None = auto,
            ``default_workers(loaded.device)``).
        topk: rows kept per unit for the precomputed top/bottom lists.
        progress: ``progress(done, total)`` after every batch (images, skipped ones included).
        chunk_rows: rows per committed chunk; part of the run's identity (keep it when resuming).
        overwrite: replace the artifact in ``out_dir`` (kept valid until the new one is complete) and discard an
            unfinished run with other settings.
        precision: ``auto``/``fp32``/``amp``/``fp16``/``bf16`` (``core.model.devices.resolve_precision``; None: the
            settings', ``CLIP_EXPLORER_PRECISION``, default auto = float16 autocast on CUDA, float32 elsewhere).
            Part of the run's identity: recorded in the manifest, a resume or rerun with another one is refused.
        decode: ``cpu`` (PIL in the workers, default) or ``gpu`` (JPEGs decoded and preprocessed on the model's
            CUDA device, ``core.pipeline.fast_decode``; needs a CUDA model and the standard eval transform).

    Returns:
        The complete, opened ``Artifact``.

    Raises:
        BadInputError: bad source, parameters or no readable image; ``ArtifactMismatchError``: ``out_dir``
        holds another model's/collection's artifact (pass ``overwrite``); ``LayerNotFoundError``.
    """
    workers = default_workers(loaded.device) if workers is None else workers
    if batch_size < 1 or workers < 0 or topk < 1 or chunk_rows < 1:
        raise BadInputError("batch_size, topk and chunk_rows must be >= 1 and workers >= 0.")
    if precision is None:
        from core.config import get_settings

        precision = get_settings().precision
    precision = devices.resolve_precision(precision, loaded.device)
    gpu_spec = _gpu_decode_spec(loaded, decode)
    coll = source if isinstance(source, Collection) else read_collection(source)
    info = resolve_layer(loaded, layer or article_layer(loaded))
    plan = make_plan(loaded, info, coll, topk, chunk_rows, precision=precision, decode=decode)
    out = Path(out_dir).expanduser().resolve()
    with artifact_lock(out):  # one writer per --out: a second run is refused, not interleaved
        done = prepare_out(out, plan, overwrite)
        if done is not None:
            if progress:
                progress(len(coll.keys), len(coll.keys))
            return done
        state = open_work(out / PARTIAL_DIR, plan, len(coll.keys))
        _extract(loaded, info, coll, out / PARTIAL_DIR, state, batch_size, workers, progress, precision,
                 gpu_spec)
        return finalize(out, plan, coll, state)


def _gpu_decode_spec(loaded: LoadedModel, decode: str) -> dict | None:
    if decode == "cpu":
        return None
    if decode != "gpu":
        raise BadInputError(f"decode must be cpu or gpu, not {decode!r}.")
    if not fast_decode.available(loaded.device):
        raise BadInputError(f"--decode gpu needs the model on a CUDA device with torchvision's GPU JPEG decoder; "
                            f"the model is on {loaded.device}. Use --decode cpu, or --device cuda.")
    spec = fast_decode.standard_transform(loaded)
    if spec is None:
        raise BadInputError(f"--decode gpu reproduces only the standard resize/crop/normalise transform; "
                            f"{loaded.id} uses another ({loaded.preprocess!r}). Use --decode cpu.")
    return spec


# ---------------------------------------------------------------- reader and mapper

class ImageDataset(torch.utils.data.Dataset):
    """Decodes and preprocesses one image; bad files yield a blank tensor plus (reason, message).

    With ``jpeg_bytes=True`` (``--decode gpu``) plain JPEGs come back undecoded, as a 1-D uint8 tensor of the
    file's bytes, for ``core.pipeline.fast_decode`` to decode on the GPU; every other file takes the PIL path as before.
    ``uint8=True``: ``preprocess`` gives (3, S, S) uint8 (``fast_decode.resize_crop_uint8``; normalised on the GPU).
    """

    def __init__(self, root: Path, keys: list[str], preprocess, size: int, *, jpeg_bytes: bool = False,
                 uint8: bool = False):
        self.root, self.keys, self.preprocess, self.size = root, keys, preprocess, size
        self.jpeg_bytes, self.dtype = jpeg_bytes, torch.uint8 if uint8 else torch.float32

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, i: int):
        if self.jpeg_bytes:
            data = fast_decode.jpeg_bytes(self.root / self.keys[i])
            if data is not None:
                return i, data, None
        return self.load(i)

    def load(self, i: int):
        """``(i, pixels, problem)`` through PIL and the model's own preprocess."""
        try:
            return i, self.preprocess(open_image(self.root / self.keys[i], within=self.root)), None
        except BadImageError as err:
            problem = (err.reason, str(err))
        except Exception as err:  # a preprocessing failure must not stop the run either
            problem = ("preprocess-error", f"{self.keys[i]}: {type(err).__name__}: {err}")
        return i, torch.zeros(3, self.size, self.size, dtype=self.dtype), problem


def _collate(items):
    rows = [it[0] for it in items]
    return rows, torch.stack([it[1] for it in items]), [it[2] for it in items]


def _collate_raw(items):
    """``--decode gpu``: the batch's JPEG bytes packed into one tensor (with each file's span) and its PIL-path
    pixels stacked: two tensors cross from a worker to the main process, not one per file (hundreds of shared
    file descriptors per batch would run into the open-files limit)."""
    spans, blobs, pixels, at = [], [], [], 0
    for _, t, _ in items:
        if t.dim() == 1:
            spans.append((at, at + len(t)))
            blobs.append(t)
            at += len(t)
        else:
            spans.append(None)
            pixels.append(t)
    blob = torch.cat(blobs) if blobs else torch.zeros(0, dtype=torch.uint8)
    stacked = torch.stack(pixels) if pixels else None
    return [it[0] for it in items], (blob, spans, stacked), [it[2] for it in items]


def _unpack_raw(packed) -> list[torch.Tensor]:
    """``_collate_raw``'s batch as one tensor per file: JPEG bytes (1-D uint8 views) or pixels (3, S, S)."""
    blob, spans, stacked = packed
    out, k = [], 0
    for span in spans:
        if span is None:
            out.append(stacked[k])
            k += 1
        else:
            out.append(blob[span[0]:span[1]])
    return out


def _worker_init(_worker_id: int) -> None:
    torch.set_num_threads(1)  # decoding workers must not fight the model's threads for the cores


def _launch(loaded: LoadedModel, layer: str, pixels: torch.Tensor, precision: str) -> dict[str, torch.Tensor]:
    """The hooked forward and the reductions, left on the model's device: max/argmax/mean (B, C), the
    normalised embedding (B, D) and, under mixed precision, whether every value is finite."""
    with torch.inference_mode():
        with capture(loaded, [layer]) as acts, devices.autocast(loaded.device, precision):
            feats = loaded.model.encode_image(pixels.to(loaded.device, non_blocking=True))  # (B, D)
        mx, arg, mean = reduce_positions(acts[layer].float())  # each (B, C)
        emb = F.normalize(feats.float(), dim=-1)
        out = {"max": mx, "argmax": arg, "mean": mean, "emb": emb}
        if precision != "fp32":
            out["finite"] = torch.stack([torch.isfinite(t).all() for t in (mx, mean, emb)]).all()
    return out


class _Pending:
    """A launched batch: on CUDA its results are being copied into pinned host memory while the caller goes on;
    ``result()`` waits for them."""

    def __init__(self, loaded: LoadedModel, layer: str, pixels: torch.Tensor, precision: str):
        self.loaded, self.layer, self.pixels, self.precision = loaded, layer, pixels, precision
        dev = self._dev = _launch(loaded, layer, pixels, precision)
        self.event = None
        if torch.device(loaded.device).type == "cuda":
            self.host = {k: torch.empty(t.shape, dtype=t.dtype, pin_memory=True) for k, t in dev.items()}
            for k, t in dev.items():
                self.host[k].copy_(t, non_blocking=True)
            self.event = torch.cuda.Event()
            self.event.record()
        else:
            self.host = dev

    def result(self) -> dict[str, np.ndarray]:
        if self.event is not None:
            self.event.synchronize()
        host = self.host
        if "finite" in host and not bool(host["finite"]):  # float16 overflowed somewhere: redo in float32
            logger.warning("non-finite values under %s on a batch; recomputing it in fp32", self.precision)
            host = {k: t.cpu() for k, t in _launch(self.loaded, self.layer, self.pixels, "fp32").items()}
        self.pixels = self._dev = None
        return _to_numpy(host)


def _to_numpy(res: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    def f16(t: torch.Tensor) -> np.ndarray:
        return np.clip(t.cpu().numpy(), -F16_MAX, F16_MAX).astype(np.float16)

    return {"max": f16(res["max"]), "argmax": res["argmax"].cpu().numpy().astype(np.uint16),
            "mean": f16(res["mean"]), "emb": f16(res["emb"])}


def forward_units(loaded: LoadedModel, layer: str, pixels: torch.Tensor, precision: str = "fp32") -> dict[str,
                  np.ndarray]:
    """One hooked forward: per-unit spatial max/argmax/mean (B, C) and the embedding (B, D), as stored
    (float16, uint16). ``precision``: a resolved one (``core.model.devices.resolve_precision``)."""
    return _Pending(loaded, layer, pixels, precision).result()


def _device_pixels(dataset: ImageDataset, rows: list[int], items: list, problems: list, device,
                   spec: dict) -> tuple[torch.Tensor | None, list]:
    """``--decode gpu``: the batch's pixels on ``device`` (JPEGs decoded there, the rest from PIL) and the
    problems, updated with files nvJPEG refused that PIL could not read either. Skipped rows are left out."""
    problems = list(problems)
    jpeg = [j for j, it in enumerate(items) if problems[j] is None and it.dim() == 1]
    decoded = dict(zip(jpeg, fast_decode.decode([items[j] for j in jpeg], device)))
    parts: dict[int, torch.Tensor] = {}
    for j, img in decoded.items():
        if img is None:  # nvJPEG refused it: PIL decides (a truncated file is skipped with its reason)
            _, items[j], problems[j] = dataset.load(rows[j])
    ok = [j for j, p in enumerate(problems) if p is None]
    if not ok:
        return None, problems
    good = [j for j in ok if decoded.get(j) is not None]
    if good:
        for j, x in zip(good, fast_decode.preprocess([decoded[j] for j in good], spec)):
            parts[j] = x
    for j in ok:
        if j not in parts:
            parts[j] = items[j].to(device, non_blocking=True)
    return torch.stack([parts[j] for j in ok]), problems


def _uint8_feed(loaded: LoadedModel, gpu_spec: dict | None) -> dict | None:
    """On CUDA the workers hand over uint8 crops (a quarter of the bytes; normalised on the GPU, same values)
    when the model's transform is the standard one; on CPU they run the model's own preprocess as ever."""
    if gpu_spec is not None or torch.device(loaded.device).type != "cuda":
        return None
    return fast_decode.standard_transform(loaded)


def _batches(n: int, plan: dict, done: set[int], batch_size: int) -> list[list[int]]:
    cr = plan["chunk_rows"]
    out = []
    for c in range(n_chunks(n, plan)):
        if c not in done:
            end = min((c + 1) * cr, n)
            out.extend(list(range(s, min(s + batch_size, end))) for s in range(c * cr, end, batch_size))
    return out


def _extract(loaded: LoadedModel, info: LayerInfo, coll: Collection, work: Path, state: dict, batch_size: int, workers: int,
             progress: ProgressFn | None, precision: str = "fp32", gpu_spec: dict | None = None) -> None:
    n, plan = len(coll.keys), state["plan"]
    done = set(state["done"])
    batches = _batches(n, plan, done, batch_size)
    finished = n - sum(len(b) for b in batches)
    if progress:
        progress(finished, n)
    if not batches:
        return
    files = {k: work_file(work, k) for k in WORK}
    cuda = torch.device(loaded.device).type == "cuda"
    u8_spec = _uint8_feed(loaded, gpu_spec)
    preprocess = fast_decode.resize_crop_uint8(loaded) if u8_spec else loaded.preprocess
    dataset = ImageDataset(coll.root, coll.keys, preprocess, loaded.image_size, jpeg_bytes=gpu_spec is not None,
                           uint8=u8_spec is not None)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=batches, num_workers=workers,
                                         collate_fn=_collate_raw if gpu_spec else _collate,
                                         worker_init_fn=_worker_init if workers else None,
                                         prefetch_factor=(2 if cuda else 4) if workers else None,
                                         pin_memory=cuda and gpu_spec is None)
    cr = plan["chunk_rows"]

    def write(rows: list[int], problems: list, pending: _Pending | None) -> None:
        nonlocal finished
        ok = [j for j, p in enumerate(problems) if p is None]
        for j, p in enumerate(problems):
            if p is not None:
                state["skipped"][str(rows[j])] = list(p)
        if pending is not None:
            res = pending.result()
            for name, f in files.items():
                block = np.zeros((len(rows), f.shape[1]), f.dtype)  # skipped rows stay zero (dropped at the end)
                block[ok] = res[name]
                f.write(rows[0], block)
        finished += len(rows)
        if rows[-1] + 1 == min((rows[-1] // cr + 1) * cr, n):  # last batch of its chunk: commit
            for f in files.values():
                f.fsync()
            state["done"] = sorted(done | {rows[-1] // cr})
            done.add(rows[-1] // cr)
            write_json_atomic(work / "state.json", state)
        if progress:
            progress(finished, n)

    waiting = None  # the previous batch: written while this one runs on the GPU (on CPU: at once, in order)
    for rows, batch, problems in loader:
        if gpu_spec is not None:
            pixels, problems = _device_pixels(dataset, rows, _unpack_raw(batch), problems, loaded.device, gpu_spec)
        else:
            ok = [j for j, p in enumerate(problems) if p is None]
            pixels = (batch if len(ok) == len(rows) else batch[ok]) if ok else None
            if pixels is not None and u8_spec is not None:
                pixels = fast_decode.normalize(pixels.to(loaded.device, non_blocking=True), u8_spec)
        pending = _Pending(loaded, info.id, pixels, precision) if pixels is not None else None
        if waiting is not None:
            write(*waiting)
        waiting = (rows, problems, pending)
    if waiting is not None:
        write(*waiting)



"""Ray engine for ``python -m core index --engine ray``: the local engine's artifact, computed by model actors.

It shares everything but the mapper with ``core.pipeline.extract``: the plan, the ``.partial/`` work files, the
chunk-commit protocol (``state.json``) and ``finalize`` (compaction, streaming top/bottom-k merge, per-unit
stats, manifest last). The mapper runs as Ray Data ``map_batches`` over chunk descriptors
(``{chunk, start, keys}``) in an actor pool: each actor loads the model once and computes whole chunks with
the local engine's own batch partition and forward function, then returns the rows to the driver, which is
the only writer (no shared output file system needed; the images must be readable by every worker). What runs
on the workers (``ModelRef``, ``ChunkMapper``) lives in ``core.pipeline.ray_worker``.
A chunk is the unit of work, commit and retry: a worker killed mid-run loses at most its chunk (Ray restarts
the actor and retries the chunk), and a killed driver resumes from the committed chunks when rerun, with
either engine.

Byte-identity with the local engine holds for the same ``batch_size``/``chunk_rows`` and the same torch
intra-op thread count per forward pass on the same hardware (CPU convolutions pick their blocking by batch
size and thread count, which moves float32 results by ~1 ulp and so some float16 roundings); see
docs/scaling.md. Ray is imported only inside these functions: the local engine never needs it.
Nothing here imports streamlit.
"""
from __future__ import annotations

import glob
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core import config
from core.errors import BadInputError, CoreError
from core.files import write_json_atomic
from core.model.hooks import article_layer, resolve_layer
from core.pipeline.collection import TABLE_SUFFIXES, Collection, read_collection
from core.pipeline.commit import artifact_lock
from core.pipeline.extract import CHUNK_ROWS, PARTIAL_DIR, ProgressFn
from core.pipeline.partial import WORK, finalize, n_chunks, open_work, work_file
from core.pipeline.plan import make_plan, prepare_out
from core.pipeline.ray_worker import ChunkMapper, ModelRef
from core.pipeline.store import Artifact

if TYPE_CHECKING:
    from core.model.loading import LoadedModel

logger = logging.getLogger(__name__)

RAY_HINT = "install the optional Ray extra: pip install -r requirements-ray.txt"
ENV_PREFIXES = ("CLIP_EXPLORER_", "HF_", "TOKENIZERS_PARALLELISM")
CRASH_ENV = "CLIP_EXPLORER_RAY_CRASH_ONCE"


class RayUnavailableError(CoreError):
    """Ray is not installed, or the cluster cannot be reached or cannot run the requested workers."""


# ---------------------------------------------------------------- image list

def read_image_list(source: str | os.PathLike) -> Collection:
    """A folder, one CSV/parquet table, or a list of table shards, as one ``Collection``.

    Shards: a glob (``/data/part-*.parquet``; a path that exists is always taken literally, e.g. a folder
    ``photos [2024]``, and a glob's folder part is tried literally when the glob matches nothing) or a ``.txt``
    file with one table path per line (relative to the ``.txt`` file's folder). Each shard's paths are relative
    to its own folder; keys are rebased onto the shards' common folder, so rows stay unique and stable. Works
    for both engines.

    Raises:
        BadInputError: no shard matches, a listed shard is missing or not a table, or no images at all.
    """
    text = str(source)
    literal = Path(text).expanduser()
    if any(ch in text for ch in "*?[") and not literal.exists():  # an existing path is literal: "photos [2024]"
        pattern = os.path.expanduser(text)
        paths = sorted(Path(p) for p in glob.glob(pattern))
        if not paths:  # "/data/shards [v2]/part-*.parquet": the brackets belong to the folder's name
            literal_dir = os.path.join(glob.escape(os.path.dirname(pattern)), os.path.basename(pattern))
            paths = sorted(Path(p) for p in glob.glob(literal_dir))
        if not paths:
            raise BadInputError(f"No table shard matches {text!r}; give a glob of CSV/parquet files, e.g. "
                                "/data/shards/part-*.parquet.")
    elif text.endswith(".txt") and Path(text).expanduser().is_file():
        listing = Path(text).expanduser().resolve()
        lines = [ln.strip() for ln in listing.read_text(encoding="utf-8").splitlines()]
        paths = [listing.parent / ln for ln in lines if ln and not ln.startswith("#")]
        missing = [str(p) for p in paths if not p.is_file()]
        if not paths or missing:
            raise BadInputError(f"{listing} must list existing CSV/parquet shards, one per line; "
                                f"missing: {', '.join(missing[:5]) or 'all (the file is empty)'}.")
    else:
        return read_collection(source)
    bad = [str(p) for p in paths if p.suffix.lower() not in TABLE_SUFFIXES]
    if bad:
        raise BadInputError(f"Shards must be tables ({', '.join(sorted(TABLE_SUFFIXES))}); got {', '.join(bad[:5])}.")
    return _merge_shards([read_collection(p) for p in paths], Path(text))


def _merge_shards(parts: list[Collection], source: Path) -> Collection:
    root = Path(os.path.commonpath([str(c.root) for c in parts]))
    entries: dict[str, tuple[str, str]] = {}
    rejected: list[dict] = []
    for c in parts:
        prefix = c.root.relative_to(root).as_posix()
        rejected.extend(c.rejected)
        for i, k in enumerate(c.keys):
            key = k if prefix == "." else f"{prefix}/{k}"
            if key in entries:
                rejected.append({"key": key, "reason": "duplicate", "message": f"{key} is listed in two shards"})
                continue
            entries[key] = (c.labels[i] if c.labels else "", c.captions[i] if c.captions else "")
    keys = sorted(entries)
    return Collection(root=root, kind="shards", source=source, keys=keys,
                      labels=[entries[k][0] for k in keys] if any(c.labels for c in parts) else None,
                      captions=[entries[k][1] for k in keys] if any(c.captions for c in parts) else None,
                      rejected=rejected)


# ---------------------------------------------------------------- driver

def chunk_descriptors(keys: list[str], chunk_rows: int, done: set[int]) -> list[dict]:
    """One ``{chunk, start, keys}`` row per unfinished chunk (keys as a JSON list: a plain Arrow string)."""
    n = len(keys)
    return [{"chunk": c, "start": c * chunk_rows, "keys": json.dumps(keys[c * chunk_rows:(c + 1) * chunk_rows])}
            for c in range(-(-n // chunk_rows)) if c not in done]


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401  (the [data] extra)
    except ImportError as err:
        raise RayUnavailableError(f"--engine ray needs Ray Data, which is not installed here; {RAY_HINT} "
                                  "(or use the default --engine local).") from err
    return ray


def ensure_ray(address: str | None = None, *, num_cpus: int | None = None) -> bool:
    """Connect to the cluster at ``address`` (or start a local one); returns True if this call started Ray.

    Workers get the repository on ``PYTHONPATH`` and the ``CLIP_EXPLORER_*``/``HF_*`` settings of this process.

    Raises:
        RayUnavailableError: Ray is not installed or the address cannot be reached.
    """
    ray = _import_ray()
    if ray.is_initialized():
        return False
    env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(config.REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
    try:
        ray.init(address=address, num_cpus=num_cpus if address is None else None, include_dashboard=False,
                 log_to_driver=False, logging_level=logging.WARNING, runtime_env={"env_vars": env})
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise RayUnavailableError(f"Cannot start or reach Ray at {address or 'a new local instance'}: {err}. "
                                  "Check the address (e.g. ray://head:10001 or auto) and that the cluster runs "
                                  "the same Ray version as requirements-ray.txt.") from err
    return True


def _pool_size(num_workers: int | None, cpus_per_worker: float, gpus_per_worker: float) -> int:
    import ray

    res = ray.cluster_resources()
    kind, per = ("GPU", gpus_per_worker) if gpus_per_worker else ("CPU", cpus_per_worker)
    fits = int(res.get(kind, 0) // per)
    if fits < 1:  # Ray would wait forever for an actor that can never be placed
        flag = "--num-gpus-per-worker" if gpus_per_worker else "--cpus-per-worker"
        raise RayUnavailableError(f"{flag} {per:g}: the cluster has {res.get(kind, 0):g} {kind}s, too few for "
                                  f"one worker. Lower it{', or use 0 for CPU workers' if gpus_per_worker else ''}.")
    return num_workers or fits


def run_extraction_ray(loaded: LoadedModel, source, out_dir, *, layer: str | None = None, batch_size: int = 64,
                       topk: int = 64,
                       progress: ProgressFn | None = None, chunk_rows: int = CHUNK_ROWS, overwrite: bool = False,
                       address: str | None = None, num_workers: int | None = None, cpus_per_worker: float = 1,
                       num_gpus_per_worker: float = 0, decode_threads: int = 2,
                       crash_once: tuple[int, str] | None = None) -> Artifact:
    """Extract like ``core.pipeline.extract.run_extraction``, with the forward passes in Ray actors.

    Args:
        loaded: the ``LoadedModel`` (the driver uses it for the plan; workers load the same id and check its
            fingerprint).
        source, out_dir, layer, batch_size, topk, progress, chunk_rows, overwrite: as ``run_extraction``.
        address: Ray cluster address (``auto``, ``ray://head:10001``); None starts a local instance.
        num_workers: model actors (default: one per ``num_gpus_per_worker`` GPUs, or per ``cpus_per_worker``).
        cpus_per_worker: CPUs reserved per actor; also its torch thread count.
        num_gpus_per_worker: GPUs per actor (0: CPU inference).
        decode_threads: image-decoding threads inside each actor.
        crash_once: test hook ``(chunk, marker_file)``: the worker starting ``chunk`` exits once.

    Returns:
        The complete, opened ``Artifact``.

    Raises:
        RayUnavailableError: Ray missing or unreachable; plus everything ``run_extraction`` raises.
    """
    if batch_size < 1 or topk < 1 or chunk_rows < 1 or cpus_per_worker <= 0 or num_gpus_per_worker < 0:
        raise BadInputError("batch_size, topk, chunk_rows and cpus_per_worker must be positive; "
                            "num_gpus_per_worker >= 0.")
    _import_ray()  # before touching the output directory
    coll = source if isinstance(source, Collection) else read_image_list(source)
    info = resolve_layer(loaded, layer or article_layer(loaded))
    plan = make_plan(loaded, info, coll, topk, chunk_rows)
    out = Path(out_dir).expanduser().resolve()
    with artifact_lock(out):  # one writer per --out
        return _run_locked(out, loaded, info, coll, plan, overwrite, progress, address=address, batch_size=batch_size,
                           num_workers=num_workers, cpus_per_worker=cpus_per_worker,
                           num_gpus_per_worker=num_gpus_per_worker, decode_threads=decode_threads,
                           crash_once=crash_once)


def _run_locked(out, loaded: LoadedModel, info, coll, plan, overwrite, progress, *, address, batch_size, num_workers,
                cpus_per_worker, num_gpus_per_worker, decode_threads, crash_once):
    finished = prepare_out(out, plan, overwrite)
    n, chunk_rows = len(coll.keys), plan["chunk_rows"]
    if finished is not None:
        if progress:
            progress(n, n)
        return finished
    state = open_work(out / PARTIAL_DIR, plan, n)
    descriptors = chunk_descriptors(coll.keys, chunk_rows, set(state["done"]))
    started = ensure_ray(address) if descriptors else False
    try:
        if descriptors:
            widths = {"max": plan["units"], "argmax": plan["units"], "mean": plan["units"], "emb": plan["embed_dim"]}
            results = _map_chunks(descriptors, loaded, info.id, coll.root, widths, batch_size=batch_size,
                                  num_workers=num_workers, cpus_per_worker=cpus_per_worker,
                                  num_gpus_per_worker=num_gpus_per_worker, decode_threads=decode_threads,
                                  crash_once=crash_once)
            _commit_chunks(results, out / PARTIAL_DIR, state, n, chunk_rows, progress)
    finally:
        if started:
            import ray

            ray.shutdown()
    return finalize(out, plan, coll, state)


def _map_chunks(descriptors: list[dict], loaded: LoadedModel, layer: str, root: Path, widths: dict[str, int], *, batch_size: int,
                num_workers: int | None, cpus_per_worker: float, num_gpus_per_worker: float, decode_threads: int,
                crash_once) -> Iterator[dict]:
    """Run the actor pool over the chunk descriptors; yields one result row per chunk (any order)."""
    import ray.data

    if not logger.isEnabledFor(logging.INFO):
        logging.getLogger("ray.data").setLevel(logging.WARNING)  # no per-run execution chatter on the CLI
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.execution_options.preserve_order = False
    size = min(_pool_size(num_workers, cpus_per_worker, num_gpus_per_worker), len(descriptors))
    ds = ray.data.from_items(descriptors, override_num_blocks=len(descriptors))
    ds = ds.map_batches(
        ChunkMapper, batch_size=1, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=size),
        num_cpus=cpus_per_worker, num_gpus=num_gpus_per_worker or None,
        fn_constructor_kwargs={"model": ModelRef.of(loaded), "layer": layer, "root": str(root),
                               "widths": widths, "batch_size": batch_size, "threads": max(1, int(cpus_per_worker)),
                               "device": "cuda" if num_gpus_per_worker else "cpu",
                               "decode_threads": decode_threads, "crash_once": crash_once})
    logger.info("ray: %d chunks over %d actors", len(descriptors), size)
    try:
        yield from ds.iter_rows()
    except Exception as err:  # a CoreError raised in a worker (e.g. other weights there) keeps its message
        cause = _core_cause(err)
        if cause is None:
            raise
        raise type(cause)(f"{cause} (in a Ray worker)") from err


def _core_cause(err: BaseException | None, depth: int = 0) -> CoreError | None:
    """The first ``CoreError`` in an exception's cause chain (Ray wraps worker errors, sometimes twice)."""
    if err is None or depth > 8:
        return None
    if isinstance(err, CoreError) and not type(err).__module__.startswith("ray"):
        return err
    for nxt in (getattr(err, "cause", None), err.__cause__, err.__context__):
        found = _core_cause(nxt, depth + 1) if isinstance(nxt, BaseException) else None
        if found is not None:
            return found
    return None


def _commit_chunks(results, work: Path, state: dict, n: int, chunk_rows: int, progress: ProgressFn | None) -> None:
    """Write each returned chunk into the work files and commit it (fsync, then ``state.json``)."""
    files = {k: work_file(work, k) for k in WORK}
    done = set(state["done"])
    finished = n - sum(min((c + 1) * chunk_rows, n) - c * chunk_rows for c in range(n_chunks(n, state["plan"]))
                       if c not in done)
    if progress:
        progress(finished, n)
    for row in results:
        chunk = int(row["chunk"])
        start, stop = chunk * chunk_rows, min((chunk + 1) * chunk_rows, n)
        if chunk in done:
            continue  # a retried duplicate: the first copy is already committed
        for name, f in files.items():
            f.write(start, np.frombuffer(row[name], dtype=f.dtype).reshape(stop - start, f.shape[1]))
        for f in files.values():
            f.fsync()
        state["skipped"].update(json.loads(row["skipped"]))
        done.add(chunk)
        state["done"] = sorted(done)
        write_json_atomic(work / "state.json", state)
        finished += stop - start
        if progress:
            progress(finished, n)


def run_from_args(loaded: LoadedModel, args, progress: ProgressFn | None = None) -> Artifact:
    """``python -m core index --engine ray ...``: run the Ray engine with the parsed CLI options.

    ``CLIP_EXPLORER_RAY_CRASH_ONCE=CHUNK:MARKER_FILE`` (fault-injection for tests and drills) makes the worker
    that starts chunk CHUNK exit once.
    """
    crash = os.environ.get(CRASH_ENV)
    crash_once = None
    if crash:
        chunk, _, marker = crash.partition(":")
        crash_once = (int(chunk), marker)
    return run_extraction_ray(loaded, args.images, args.out, layer=args.layer, batch_size=args.batch_size,
                              topk=args.topk, progress=progress, chunk_rows=args.chunk_rows, overwrite=args.overwrite,
                              address=args.address, num_workers=args.ray_workers, cpus_per_worker=args.cpus_per_worker,
                              num_gpus_per_worker=args.num_gpus_per_worker, crash_once=crash_once)

"""The dashboard's background jobs: indexing (the demo corpus, a folder), feature-visualization renders, word
scoring. Each runs in a thread (``ui.jobs.start_job``) that any number of sessions watch; it never blocks one.

Batch jobs (big batches through the model: indexing, word scoring) run with every core, where the server otherwise
keeps one for its event loop (``Settings.server_threads``); renders keep the server's setting, their many small ops
run faster on fewer threads.

On a shared server batch jobs keep the server's setting too. Heavy jobs started by a visitor (renders, word
scoring, indexing a folder, attack evaluations) are capped (``heavy_job``): ``Settings.session_jobs`` per visitor
(one more is refused with a message) and ``Settings.max_jobs`` in the server (one more waits in a queue; its Cancel
ends it there). Watching a job another visitor started costs nothing and is never refused.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

from core.config import get_settings
from core.errors import BadInputError, Cancelled
from ui import deploy
from ui.jobs import Job, JobCapError, cancel_event, cancel_job, get_job, own_job, queued, session_cap, start_job
from ui.resources.artifacts import collections
from ui.resources.models import article_layer, get_model

__all__ = ["BATCH_JOB_THREADS", "Job", "JobCancelled", "batch_threads", "cancel_event", "cancel_job", "demo_index_job",
           "featurevis_job", "featurevis_job_key", "folder_index_job", "get_job", "heavy_job", "index_job_key",
           "index_out_dir", "unfinished_index_runs",
           "words_job", "words_job_key", "diversity_job", "diversity_job_key"]

BATCH_JOB_THREADS = os.cpu_count() or 1


def batch_threads() -> int:
    """torch's threads for a batch job: every core, except on a shared server, where the event loop keeps one
    (``Settings.server_threads``) so that other visitors' pages still answer while a job runs."""
    settings = get_settings()
    return settings.server_threads if settings.shared else BATCH_JOB_THREADS


def demo_index_job(model_id: str) -> Job:
    """Index the shipped demo corpus with ``model_id`` in the background (once per artifacts dir)."""
    from core.pipeline.demo import demo_index_dir, ensure_demo_index

    settings = get_settings()
    loaded = get_model(model_id)  # resolved in the session's thread; the job only uses it read-only
    key = f"demo-index:{demo_index_dir(model_id, settings.artifacts_dir)}"
    return start_job(key, "Indexing the demo collection",
                     lambda progress: ensure_demo_index(progress, loaded=loaded, artifacts_dir=settings.artifacts_dir),
                     on_finish=collections.clear, threads=batch_threads())


def index_out_dir(folder: str, model_id: str, layer: str | None = None) -> Path:
    """Where "Index a folder" writes ``folder`` indexed by ``model_id`` at ``layer``:
    ``<artifacts>/indexes/FOLDER--MODEL``, with ``--LAYER`` added for a layer other than the article's (None)."""
    from core.pipeline.collection import slug

    name = f"{slug(folder)}--{slug(model_id)}"
    if layer is not None and layer != article_layer(model_id):
        name += f"--{slug(layer)}"
    return get_settings().artifacts_dir / "indexes" / name


def index_job_key(out: Path, layer: str) -> str:
    """The key of the job indexing into ``out`` at ``layer`` (the layer named: a job at another layer is another
    job, never taken for this one)."""
    return f"index:{out}:{layer}"


def folder_index_job(model_id: str, folder: str, layer: str | None = None) -> Job:
    """Index ``folder`` (a name from ``deploy.index_folders``: a sub-folder of an index root, or an upload) at
    ``layer`` (default: the article's) in the background; the job's result is the artifact."""
    from core.model.hooks import resolve_layer
    from core.pipeline.extract import run_extraction
    from core.pipeline.index import ensure_index

    settings = get_settings()
    folders = deploy.index_folders(settings)
    if folder not in folders:
        raise BadInputError(f"'{folder}' is not a folder this server lets you index; pick one from the list.")
    src = folders[folder]
    loaded = get_model(model_id)
    layer = resolve_layer(loaded, layer or article_layer(model_id)).id  # an unknown layer: one line, now
    out = index_out_dir(folder, model_id, layer)
    flag = threading.Event()

    def work(progress):
        def step(done: int, total: int) -> None:
            progress(done, total)
            if flag.is_set():  # the extraction is resumable: stopping here loses nothing
                raise Cancelled(f"Indexing {folder} cancelled; the next run resumes where it stopped.")

        art = run_extraction(loaded, src, out, layer=layer, workers=None, progress=step)  # workers: per device
        ensure_index(art)
        return art

    return heavy_job(index_job_key(out, layer), f"Indexing {folder} at layer {layer}", work,
                     on_finish=collections.clear, threads=batch_threads(), cancel=flag)


def unfinished_index_runs(model_id: str) -> list[dict]:
    """The folders whose indexing with ``model_id`` was interrupted (a server restart, a crash, a cancel): each
    ``{"folder", "layer", "done", "chunks"}``, for the folders "Index a folder" offers, unless a job is indexing it
    now (not cached: a few small files, read when the sidebar's expander is drawn)."""
    import glob

    from core.pipeline.collection import slug
    from core.pipeline.partial import unfinished_run

    settings = get_settings()
    model = get_model(model_id)
    indexes = settings.artifacts_dir / "indexes"
    out = []
    for folder in deploy.index_folders(settings):
        base = f"{slug(folder)}--{slug(model_id)}"
        for path in [indexes / base, *sorted(indexes.glob(glob.escape(base) + "--*"))]:
            run = unfinished_run(path)
            if run is None or run["model_id"] != model.id or index_out_dir(folder, model_id, run["layer"]) != path:
                continue
            job = get_job(index_job_key(path, run["layer"]))
            if job is None or job.finished.is_set():
                out.append({"folder": folder, "layer": run["layer"], "done": run["done"], "chunks": run["chunks"]})
    return out


def featurevis_job_key(model_id: str, layer: str, unit: int, seeds: int, facets: tuple[str, ...]) -> str:
    """The key of the render job (and of its cancel flag) for one unit's feature-visualization strip: everything that
    decides its pictures, the steps included (a finished job of other settings is never taken for this one)."""
    from core.featurevis.strip import strip_steps

    return (f"featurevis:{get_settings().artifacts_dir}:{model_id}:{layer}:{unit}:{seeds}:{','.join(facets)}:"
            f"{strip_steps()}")


def words_job_key(model_id: str, layer: str) -> str:
    """The key of the word-scoring job of one model, layer and vocabulary (``CLIP_EXPLORER_VOCAB_SIZE`` cuts it): a
    finished job of another vocabulary is never taken for this one."""
    from core.analyses.words import vocabulary_tag

    return f"words:{get_settings().artifacts_dir}:{model_id}:{layer}:{vocabulary_tag()}"


def featurevis_job(model_id: str, layer: str, unit: int, seeds: int, facets: tuple[str, ...]) -> Job:
    """Render the card's feature-visualization strip in the background (cancellable; results cached on disk)."""
    from core.featurevis.strip import RenderCancelled, render_strip, strip_items

    key = featurevis_job_key(model_id, layer, unit, seeds, facets)
    flag = threading.Event()  # this run's own flag (``job.cancel``): a new run never inherits an old cancel
    loaded = get_model(model_id)

    def work(progress):
        from ui.resources.fv_jobs import train_probes_then

        train_probes_then(key, loaded, facets, progress)  # the probes first, with their own progress
        return render_strip(loaded, layer, unit, strip_items(seeds, facets), progress=progress, cancelled=flag.is_set)

    return heavy_job(key, "Rendering (optimisation steps)", work, on_cancel=RenderCancelled, cancel=flag)


def words_job(model_id: str, layer: str) -> Job:
    """Score the shipped word vocabulary at ``layer`` in the background (once per model and layer)."""
    from core.analyses.words import word_activations

    loaded = get_model(model_id)
    flag = threading.Event()
    return heavy_job(words_job_key(model_id, layer), "Scoring the rastered-word vocabulary",
                     lambda progress: word_activations(loaded, layer, progress=progress, cancelled=flag.is_set).layer,
                     threads=batch_threads(), cancel=flag)


# ---------------------------------------------------------------- caps (Settings.session_jobs, max_jobs) -------------
class JobCancelled(Cancelled):
    """A queued job cancelled before it started."""


def heavy_job(key: str, title: str, work, *, on_cancel=None, **kw) -> Job:
    """``start_job`` for a heavy job: the visitor's cap checked (a job already running under ``key`` is only
    watched: never refused), the work queued behind the server's cap, and the cancel flag of ``key`` honoured while
    it waits."""
    old = get_job(key)
    if old is not None and not (old.finished.is_set() and old.error is not None):
        return old
    settings, owner = get_settings(), deploy.session_id()
    try:
        session_cap(owner, settings.session_jobs)
    except JobCapError as err:
        raise BadInputError(f"You already have {settings.session_jobs} heavy job(s) running or queued ({err}); this "
                            f"server allows {settings.session_jobs} per visitor. Wait for it to finish, or cancel it, "
                            "then start this one.") from None
    flag = kw.get("cancel") or cancel_event(key)  # the job run's own flag where it has one
    flag.clear()
    job = start_job(key, title, queued(key, work, lambda: get_settings().max_jobs, flag.is_set,
                                       on_cancel or (lambda: JobCancelled(f"{title}: cancelled while queued."))),
                    **kw)
    own_job(key, owner)
    return job


# ---------------------------------------------------------------- diversity renders -------------------------------
def diversity_job_key(model_id: str, layer: str, unit: int, images: int, weight: float, steps: int) -> str:
    return f"diversity:{get_settings().artifacts_dir}:{model_id}:{layer}:{unit}:{images}:{weight:g}:{steps}"


def diversity_job(model_id: str, layer: str, unit: int, images: int, weight: float, steps: int) -> Job:
    """Render ``images`` diverse feature visualizations of a unit in the background (cancellable, cached)."""
    from core.featurevis.diverse import render_diverse
    from core.featurevis.strip import RenderCancelled
    key = diversity_job_key(model_id, layer, unit, images, weight, steps)
    flag = threading.Event()  # this run's own cancel flag (``job.cancel``)
    loaded = get_model(model_id)

    def work(progress):
        res = render_diverse(loaded, layer, unit, images=images, weight=weight, steps=steps,
                             on_step=lambda step, total, _loss: (progress(step, total), not flag.is_set())[1])
        if res.cancelled:
            raise RenderCancelled("Rendering cancelled.")
        return res

    return heavy_job(key, f"Rendering {images} diverse feature visualizations of unit {unit}", work,
                     on_cancel=RenderCancelled, cancel=flag)

"""The dashboard's background jobs: indexing (the demo corpus, a folder), feature-visualization renders, word
scoring. Each runs in a thread (``ui.jobs.start_job``) that any number of sessions watch; it never blocks one.

Batch jobs (big batches through the model: indexing, word scoring) run with every core, where the server otherwise
keeps one for its event loop (``Settings.server_threads``); renders keep the server's setting, their many small ops
run faster on fewer threads.
"""
from __future__ import annotations

import os

from core.config import get_settings
from core.errors import BadInputError
from ui.jobs import Job, cancel_event, get_job, start_job
from ui.resources.artifacts import collection_folders, collections
from ui.resources.models import get_model

__all__ = ["BATCH_JOB_THREADS", "Job", "cancel_event", "demo_index_job", "featurevis_job", "featurevis_job_key",
           "folder_index_job", "get_job", "words_job", "words_job_key"]

BATCH_JOB_THREADS = os.cpu_count() or 1


def demo_index_job(model_id: str) -> Job:
    """Index the shipped demo corpus with ``model_id`` in the background (once per artifacts dir)."""
    from core.pipeline.demo import demo_index_dir, ensure_demo_index

    settings = get_settings()
    loaded = get_model(model_id)  # resolved in the session's thread; the job only uses it read-only
    key = f"demo-index:{demo_index_dir(model_id, settings.artifacts_dir)}"
    return start_job(key, "Indexing the demo collection",
                     lambda progress: ensure_demo_index(progress, loaded=loaded, artifacts_dir=settings.artifacts_dir),
                     on_finish=collections.clear, threads=BATCH_JOB_THREADS)


def folder_index_job(model_id: str, folder: str) -> Job:
    """Index ``<collections_dir>/<folder>`` (a name from ``collection_folders``) in the background."""
    from core.pipeline.collection import slug
    from core.pipeline.extract import run_extraction
    from core.pipeline.index import ensure_index

    settings = get_settings()
    src = (settings.collections_dir / folder).resolve()
    if folder not in collection_folders() or not src.is_relative_to(settings.collections_dir):
        raise BadInputError(f"'{folder}' is not a folder under {settings.collections_dir}.")
    out = settings.artifacts_dir / "indexes" / f"{slug(folder)}--{slug(model_id)}"
    loaded = get_model(model_id)

    def work(progress):
        art = run_extraction(loaded, src, out, workers=None, progress=progress)  # None: chosen for the device
        ensure_index(art)
        return art

    return start_job(f"index:{out}", f"Indexing {folder}", work, on_finish=collections.clear,
                     threads=BATCH_JOB_THREADS)


def featurevis_job_key(model_id: str, layer: str, unit: int, seeds: int, facets: tuple[str, ...]) -> str:
    """The key of the render job (and of its cancel flag) for one unit's feature-visualization strip."""
    return f"featurevis:{get_settings().artifacts_dir}:{model_id}:{layer}:{unit}:{seeds}:{','.join(facets)}"


def words_job_key(model_id: str, layer: str) -> str:
    """The key of the word-scoring job of one model and layer."""
    return f"words:{get_settings().artifacts_dir}:{model_id}:{layer}"


def featurevis_job(model_id: str, layer: str, unit: int, seeds: int, facets: tuple[str, ...]) -> Job:
    """Render the card's feature-visualization strip in the background (cancellable; results cached on disk)."""
    from core.featurevis.strip import render_strip, strip_items

    key = featurevis_job_key(model_id, layer, unit, seeds, facets)
    old, flag = get_job(key), cancel_event(key)
    if old is None or (old.finished.is_set() and old.error is not None):
        flag.clear()
    loaded = get_model(model_id)

    def work(progress):
        from ui.resources.fv_jobs import train_probes_then

        train_probes_then(key, loaded, facets, progress)  # the probes first, with their own progress
        return render_strip(loaded, layer, unit, strip_items(seeds, facets), progress=progress, cancelled=flag.is_set)

    return start_job(key, "Rendering (optimisation steps)", work)


def words_job(model_id: str, layer: str) -> Job:
    """Score the shipped word vocabulary at ``layer`` in the background (once per model and layer)."""
    from core.analyses.words import word_activations

    loaded = get_model(model_id)
    return start_job(words_job_key(model_id, layer), "Scoring the rastered-word vocabulary",
                     lambda progress: word_activations(loaded, layer, progress=progress).layer,
                     threads=BATCH_JOB_THREADS)

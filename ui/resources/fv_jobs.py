"""Background feature-visualization jobs beyond the card's strip: diversity renders, and the facet probes trained
first with their own progress (the job's title says which phase runs)."""
from __future__ import annotations

import threading

from core.config import get_settings
from ui.jobs import Job, get_job
from ui.resources.models import get_model


def diversity_job_key(model_id: str, layer: str, unit: int, images: int, weight: float, steps: int) -> str:
    return f"diversity:{get_settings().artifacts_dir}:{model_id}:{layer}:{unit}:{images}:{weight:g}:{steps}"


def diversity_job(model_id: str, layer: str, unit: int, images: int, weight: float, steps: int) -> Job:
    """Render ``images`` diverse feature visualizations of a unit in the background (cancellable, cached)."""
    from core.featurevis.diverse import render_diverse
    from core.featurevis.strip import RenderCancelled
    from ui.resources.jobs import heavy_job

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


def train_probes_then(key: str, loaded, facets, progress) -> None:
    """Inside a render job: train the facets' probes not trained yet, the job's title naming the phase; then the
    title says the rendering runs."""
    from core.featurevis.diverse import train_probes

    def phase(title: str) -> None:
        job = get_job(key)
        if job is not None:
            job.title = title
    if train_probes(loaded, facets, progress=progress, phase=phase):
        phase("Rendering (optimisation steps)")

"""Inside a feature-visualization render job: the facet probes trained first, with their own progress (the job's title
says which phase runs)."""
from __future__ import annotations

from ui.jobs import get_job


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

"""A render job's title names its phase: the facet probe's training first, then the rendering."""
from __future__ import annotations


def test_probe_phase_then_rendering(monkeypatch):
    from core.featurevis import diverse
    from ui.jobs import get_job, start_job
    from ui.resources import fv_jobs

    key = "test:probe-phase"
    seen = []

    def fake_train(loaded, facets, progress=None, phase=None):
        phase("Training the 'text' facet's probe")
        progress(5, 10)
        seen.append((get_job(key).title, get_job(key).done))
        return list(facets)

    monkeypatch.setattr(diverse, "train_probes", fake_train)
    job = start_job(key, "Rendering (optimisation steps)", lambda p: fv_jobs.train_probes_then(key, None, ["text"], p))
    assert job.finished.wait(10) and job.error is None
    assert seen == [("Training the 'text' facet's probe", 5)] and job.title == "Rendering (optimisation steps)"

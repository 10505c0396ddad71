"""Progress of a feature-visualization job whose title names its phase (a facet probe's training, then the
rendering), with a Cancel button."""
from __future__ import annotations

import streamlit as st

from ui import resources
from ui.jobs import Job


def watch_phases(job: Job, cancel_key: str | None) -> None:
    """Like ``ui.widgets.watch_cancellable``, but the bar's text follows ``job.title`` as the job changes phase."""
    if cancel_key is not None and st.button("Cancel", key=f"cancel_{cancel_key}"):
        resources.cancel_event(cancel_key).set()
    bar = st.progress(job.fraction, text=job.title)
    while not job.finished.wait(0.5):
        bar.progress(job.fraction, text=f"{job.title}: {job.done} / {job.total or '?'}")
    st.rerun()

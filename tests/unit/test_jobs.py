"""Background jobs: one run per key, progress, failures restart, on_finish always runs."""
from __future__ import annotations

import threading

from core.jobs import cancel_event, get_job, start_job


def test_one_job_per_key_with_progress_and_result():
    gate, calls, finished = threading.Event(), [], []

    def work(progress):
        calls.append(1)
        progress(1, 4)
        gate.wait(5)
        return "done"

    job = start_job("t-once", "test", work, on_finish=lambda: finished.append(1))
    again = start_job("t-once", "test", work)
    assert again is job and get_job("t-once") is job
    gate.set()
    assert job.finished.wait(5)
    assert job.result == "done" and job.error is None and job.fraction == 0.25
    assert calls == [1] and finished == [1]


def test_failed_job_reports_error_runs_on_finish_and_restarts():
    finished = []

    def boom(progress):
        raise ValueError("bad folder")

    job = start_job("t-fail", "test", boom, on_finish=lambda: finished.append(1))
    assert job.finished.wait(5) and isinstance(job.error, ValueError) and finished == [1]
    retry = start_job("t-fail", "test", lambda progress: 42)
    assert retry is not job and retry.finished.wait(5) and retry.result == 42


def test_cancel_event_is_shared_per_key():
    assert cancel_event("t-cancel") is cancel_event("t-cancel")
    assert cancel_event("t-cancel") is not cancel_event("t-other")

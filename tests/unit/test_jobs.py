"""Background jobs: one run per key, progress, failures restart, on_finish always runs."""
from __future__ import annotations

import threading

from ui.jobs import cancel_event, get_job, start_job


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


def _new_thread_threads() -> int:
    """torch's intra-op threads as a thread started now sees them (each thread takes the process-wide setting on
    its first use of torch; a Streamlit script run is such a thread)."""
    import torch

    out = []
    t = threading.Thread(target=lambda: out.append(torch.get_num_threads()))
    t.start()
    t.join()
    return out[0]


def test_a_job_runs_with_the_threads_it_asks_for_and_the_setting_returns_after_the_last_one():
    import torch

    before = _new_thread_threads()
    want = before + 1
    gates = {k: threading.Event() for k in ("a", "b")}
    seen = {}

    def work(name):
        def run(progress):
            seen[name] = torch.get_num_threads()
            gates[name].wait(5)
        return run

    a = start_job("t-threads-a", "test", work("a"), threads=want)
    b = start_job("t-threads-b", "test", work("b"), threads=want)
    plain = start_job("t-threads-none", "test", lambda progress: None)  # no request: nothing changes
    assert plain.finished.wait(5)
    gates["a"].set()
    assert a.finished.wait(5)
    assert _new_thread_threads() == want  # b still runs
    gates["b"].set()
    assert b.finished.wait(5)
    assert seen == {"a": want, "b": want} and _new_thread_threads() == before
    assert a.error is None and b.error is None

"""Background jobs shared by every dashboard session: progress, result or error, and a cancel flag.

Pure threading (no streamlit): a job runs once per key in a daemon thread, any number of sessions watch
it, and a failed job is restarted on the next request. ``core.resources`` starts the dashboard's jobs.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


@dataclass
class Job:
    """A background job shared by all sessions: progress, result or error, finished flag."""

    key: str
    title: str
    done: int = 0
    total: int = 0
    result: object = None
    error: BaseException | None = None
    started: float = field(default_factory=time.time)
    finished: threading.Event = field(default_factory=threading.Event)

    def progress(self, done: int, total: int) -> None:
        self.done, self.total = int(done), int(total)

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0


_JOBS: dict[str, Job] = {}
_JOBS_LOCK = threading.Lock()


def start_job(key: str, title: str, work: Callable[[Callable[[int, int], None]], object], *,
              on_finish: Callable[[], None] | None = None) -> Job:
    """Start ``work(progress)`` in a daemon thread, or return the job already running/finished for ``key``.

    A failed job is restarted on the next call (the extraction it runs is resumable). ``on_finish`` runs when
    the work ends, successfully or not (e.g. to refresh a cache that lists its output).
    """
    with _JOBS_LOCK:
        job = _JOBS.get(key)
        if job is not None and not (job.finished.is_set() and job.error is not None):
            return job
        job = Job(key, title)
        _JOBS[key] = job

    def _run() -> None:
        try:
            job.result = work(job.progress)
        except BaseException as err:  # noqa: BLE001 - reported to every watching session
            logger.exception("job %s failed", key)
            job.error = err
        finally:
            if on_finish is not None:
                on_finish()
            job.finished.set()

    threading.Thread(target=_run, name=f"job:{key}", daemon=True).start()
    return job


def get_job(key: str) -> Job | None:
    """The job started under ``key``, if any."""
    with _JOBS_LOCK:
        return _JOBS.get(key)


_CANCELS: dict[str, threading.Event] = {}


def cancel_event(key: str) -> threading.Event:
    """The cancel flag of a cancellable job (feature-visualization renders)."""
    with _JOBS_LOCK:
        return _CANCELS.setdefault(key, threading.Event())

"""Background jobs shared by every dashboard session: progress, result or error, and a cancel flag.

A job runs once per key in a daemon thread, any number of sessions watch
it, and a failed job is restarted on the next request. ``ui.resources.jobs`` starts the dashboard's jobs; this
module uses no streamlit, so tests drive it directly.
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from core.errors import Cancelled

logger = logging.getLogger(__name__)


STALL_S = 120.0  # a running job with no progress for this long is reported as stalled


@dataclass
class Job:
    """A background job shared by all sessions: progress, result or error, finished flag, and its own cancel flag
    (the work checks it: ``render_strip(cancelled=...)``, ``word_activations(cancelled=...)``, an indexing job's
    progress callback)."""

    key: str
    title: str
    done: int = 0
    total: int = 0
    result: object = None
    error: BaseException | None = None
    started: float = field(default_factory=time.time)
    finished: threading.Event = field(default_factory=threading.Event)
    cancel: threading.Event = field(default_factory=threading.Event)
    touched: float = field(default_factory=time.time)  # the last sign of progress

    def progress(self, done: int, total: int) -> None:
        self.done, self.total = int(done), int(total)
        self.touched = time.time()

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    @property
    def cancelled(self) -> bool:
        """Whether the job ended because a user cancelled it."""
        return self.finished.is_set() and isinstance(self.error, Cancelled)

    def stalled(self, after_s: float | None = None) -> bool:
        """Whether the job is running but has shown no progress for ``after_s`` (default ``STALL_S``) seconds."""
        return not self.finished.is_set() and time.time() - self.touched > (STALL_S if after_s is None else after_s)


def cancel_job(job: Job) -> None:
    """Ask ``job`` to stop (its work stops at its next check; finished work is kept). A stalled job (its thread
    blocked, e.g. opening a named pipe, so it never checks) is let go at once: it is reported as cancelled and the
    next start of its key runs afresh; its thread, should it ever wake, sees the flag and stops."""
    job.cancel.set()
    if job.stalled():
        job.error = Cancelled(f"{job.title}: stopped after {time.time() - job.touched:.0f} s without progress. "
                              "Start it again to resume where it stopped.")
        job.finished.set()


_JOBS: dict[str, Job] = {}
_JOBS_LOCK = threading.Lock()


def start_job(key: str, title: str, work: Callable[[Callable[[int, int], None]], object], *,
              on_finish: Callable[[], None] | None = None, threads: int | None = None,
              cancel: threading.Event | None = None) -> Job:
    """Start ``work(progress)`` in a daemon thread, or return the job already running/finished for ``key``.

    A failed job is restarted on the next call (the extraction it runs is resumable). ``on_finish`` runs when
    the work ends, successfully or not (e.g. to refresh a cache that lists its output). ``threads``: torch's
    intra-op threads while the job runs (``job_threads``), e.g. every core for a long batch job in a server that
    otherwise keeps a core free for its event loop (``Settings.server_threads``). ``cancel``: the flag ``work`` checks
    (it becomes ``job.cancel``; unused when a job of ``key`` is already running). A cancelled job counts as failed:
    the next call starts it again.
    """
    with _JOBS_LOCK:
        job = _JOBS.get(key)
        if job is not None and not (job.finished.is_set() and job.error is not None):
            return job
        job = Job(key, title, cancel=cancel if cancel is not None else threading.Event())
        _JOBS[key] = job

    def _run() -> None:
        try:
            with job_threads(threads):
                job.result = work(job.progress)
        except Cancelled as err:
            logger.info("job %s cancelled", key)
            job.error = err
        except BaseException as err:  # noqa: BLE001 - reported to every watching session
            logger.exception("job %s failed", key)
            job.error = err
        finally:
            if on_finish is not None:
                on_finish()
            job.finished.set()

    threading.Thread(target=_run, name=f"job:{key}", daemon=True).start()
    return job


_THREADS_LOCK = threading.Lock()
_THREADS_ASKED: list[int] = []  # what the running jobs asked for
_THREADS_BEFORE = [0]  # torch's setting before the first of them started


@contextlib.contextmanager
def job_threads(threads: int | None) -> Iterator[None]:
    """torch's intra-op threads at ``threads`` (at least) while the block runs; the setting from before the first
    such block returns when the last one ends. ``torch.set_num_threads`` sets the calling thread and the value
    every thread started later takes on its first use of torch (each Streamlit script run is a new thread), so
    overlapping jobs share the largest request. ``None`` leaves it alone."""
    if threads is None:
        yield
        return
    import torch

    with _THREADS_LOCK:
        if not _THREADS_ASKED:
            _THREADS_BEFORE[0] = torch.get_num_threads()
        _THREADS_ASKED.append(int(threads))
        torch.set_num_threads(max(_THREADS_ASKED))
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _THREADS_ASKED.remove(int(threads))
            torch.set_num_threads(max(_THREADS_ASKED) if _THREADS_ASKED else _THREADS_BEFORE[0])


def get_job(key: str) -> Job | None:
    """The job started under ``key``, if any."""
    with _JOBS_LOCK:
        return _JOBS.get(key)


_CANCELS: dict[str, threading.Event] = {}


def cancel_event(key: str) -> threading.Event:
    """A cancel flag shared per key (kept for callers outside the dashboard; its jobs use ``Job.cancel``)."""
    with _JOBS_LOCK:
        return _CANCELS.setdefault(key, threading.Event())


# ---------------------------------------------------------------- caps and queue of heavy jobs ------------------------
# Heavy jobs (renders, word scoring, indexing) are capped per visitor (``session_cap``: refused with a message) and in
# the whole server (``queued``: a job beyond the cap waits, first in first out, and a cancel flag set while it waits
# ends it). The limits come from ``Settings.session_jobs`` / ``max_jobs`` (``ui.resources.jobs``); 0 means no cap.
class JobCapError(Exception):
    """Raised by ``session_cap`` (``ui.resources.jobs`` turns it into a message for the visitor)."""


_OWNERS: dict[str, str] = {}  # heavy job key -> the session that started it
_QUEUE = threading.Condition()
_WAITING: list[str] = []  # keys of the heavy jobs waiting for a slot, oldest first
_RUNNING: set[str] = set()


def own_job(key: str, owner: str) -> None:
    """Record that session ``owner`` started the heavy job ``key``."""
    with _JOBS_LOCK:
        _OWNERS[key] = owner


def owned_jobs(owner: str) -> list[Job]:
    """The heavy jobs session ``owner`` started that are running or queued."""
    with _JOBS_LOCK:
        return [j for k, o in _OWNERS.items() if o == owner and (j := _JOBS.get(k)) is not None
                and not j.finished.is_set()]


def session_cap(owner: str, cap: int) -> None:
    """Raise ``JobCapError`` when session ``owner`` already has ``cap`` heavy jobs running or queued (0: no cap)."""
    mine = owned_jobs(owner)
    if cap and len(mine) >= cap:
        raise JobCapError(", ".join(j.title for j in mine))


def queue_position(key: str) -> int | None:
    """How many heavy jobs wait ahead of ``key`` (0: it is next), or ``None`` when it is not waiting."""
    with _QUEUE:
        return _WAITING.index(key) if key in _WAITING else None


def running_heavy() -> int:
    """How many heavy jobs hold a slot now."""
    with _QUEUE:
        return len(_RUNNING)


def queued(key: str, work: Callable[[Callable[[int, int], None]], object], limit: Callable[[], int],
           cancelled: Callable[[], bool], on_cancel: Callable[[], BaseException]):
    """``work`` wrapped to wait for one of ``limit()`` server-wide slots (0: no cap) before it runs; while it waits,
    ``cancelled()`` ends it with ``on_cancel()`` (raised, so the job reports it like any error)."""

    def run(progress: Callable[[int, int], None]) -> object:
        job = get_job(key)
        title = job.title if job is not None else key
        with _QUEUE:
            _WAITING.append(key)
            try:
                while True:
                    cap = limit()
                    if _WAITING[0] == key and (not cap or len(_RUNNING) < cap):
                        break
                    if cancelled():
                        raise on_cancel()
                    if job is not None:  # what a watcher shows while it waits
                        job.title = f"{title} (queued: {_WAITING.index(key) + len(_RUNNING)} job(s) ahead)"
                    _QUEUE.wait(0.25)
            finally:
                _WAITING.remove(key)
                _QUEUE.notify_all()
                if job is not None:
                    job.title = title
            _RUNNING.add(key)
        try:
            return work(progress)
        finally:
            with _QUEUE:
                _RUNNING.discard(key)
                _QUEUE.notify_all()

    return run

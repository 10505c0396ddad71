"""A bounded, thread-safe cache of values computed once, on demand or ahead of time in the background.

The neuron card uses it to build the cards a person is likely to open next (the next and previous unit, the
next "random" pick) while they read the current one, so a switch finds its data ready (``prefetch``), and to
share one computation when a request arrives while the same value is still being built (``get`` waits for it).

Rules: values are immutable once built (callers must not mutate them); at most ``max_entries`` are kept,
least recently used first out; a build that raised is not kept (the next ``get`` builds again and raises
to its caller); at most ``max_pending`` background builds wait at a time, newer hints are dropped beyond
that, so a fast clicker never piles up work; background builds run on ``workers`` worker threads.

A prefetch may wait ``delay`` seconds before it starts, so it does not compete for the CPU with the work the
hint came from (on the neuron card: the browser drawing the card just sent, when both share a machine). A
``get`` for a value whose build has not started yet does not wait for that delay: it takes the build over,
which frees that build's place in the queue.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor


class FutureCache:
    """LRU of ``Future`` values keyed by hashable keys; see the module docstring for its rules."""

    def __init__(self, max_entries: int = 64, *, workers: int = 1, max_pending: int = 4,
                 name: str = "prefetch"):
        if max_entries < 1 or workers < 1 or max_pending < 0:
            raise ValueError("max_entries and workers must be >= 1, max_pending >= 0")
        self.max_entries, self.max_pending = max_entries, max_pending
        self._lock = threading.Lock()
        self._items: OrderedDict[Hashable, Future] = OrderedDict()
        self._queued: set[Future] = set()  # background builds not finished yet (waiting or running)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self.stats = {"hits": 0, "misses": 0, "prefetched": 0, "dropped": 0, "taken_over": 0}

    @property
    def pending(self) -> int:
        """How many background builds are waiting or running (at most ``max_pending``)."""
        with self._lock:
            return len(self._queued)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def clear(self) -> None:
        """Forget every value (builds in flight finish but are not kept)."""
        with self._lock:
            self._items.clear()

    def _insert(self, key: Hashable, fut: Future) -> None:  # caller holds the lock
        self._items[key] = fut
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)

    def _forget_failed(self, key: Hashable, fut: Future) -> None:
        if fut.cancelled() or fut.exception() is not None:
            with self._lock:
                if self._items.get(key) is fut:
                    del self._items[key]

    def get(self, key: Hashable, build: Callable[[], object]) -> object:
        """The value for ``key``: cached, or awaited if a background build is running, or built here now.

        Raises:
            Whatever ``build`` raises (the failed value is not kept).
        """
        while True:
            with self._lock:
                fut = self._items.get(key)
                if fut is not None and fut.cancel():  # a prefetch still waiting to start: build it here, now
                    self._queued.discard(fut)  # and its slot is free for newer hints at once
                    self.stats["taken_over"] += 1
                    fut = None
                owner = fut is None
                if owner:
                    fut = Future()
                    fut.set_running_or_notify_cancel()  # built here from now on: never taken over
                    self._insert(key, fut)
                    self.stats["misses"] += 1
                else:
                    self._items.move_to_end(key)
                    self.stats["hits"] += 1
            if owner:
                try:
                    value = build()
                except BaseException as err:
                    fut.set_exception(err)
                    self._forget_failed(key, fut)
                    raise
                fut.set_result(value)
                return value
            try:
                return fut.result()
            except Exception:  # a background build failed: forget it and build here (raising if it fails again)
                self._forget_failed(key, fut)

    def prefetch(self, key: Hashable, build: Callable[[], object], *, delay: float = 0.0) -> bool:
        """Start building ``key`` in the background unless it is cached, in flight, or too much is queued.

        Args:
            delay: seconds to wait before the build starts (a ``get`` meanwhile builds it at once instead).

        Returns:
            Whether a build was started.
        """
        with self._lock:
            if key in self._items:
                return False
            if len(self._queued) >= self.max_pending:
                self.stats["dropped"] += 1
                return False
            fut: Future = Future()
            self._insert(key, fut)
            self._queued.add(fut)
            self.stats["prefetched"] += 1

        not_before = time.monotonic() + delay

        def run() -> None:
            try:
                time.sleep(max(0.0, not_before - time.monotonic()))
                if not fut.set_running_or_notify_cancel():  # get() took it over while it waited
                    return
                fut.set_result(build())
            except BaseException as err:  # noqa: BLE001 - kept on the future; get() rebuilds and raises
                fut.set_exception(err)
                self._forget_failed(key, fut)
            finally:
                with self._lock:
                    self._queued.discard(fut)

        self._pool.submit(run)
        return True

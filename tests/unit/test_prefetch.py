"""core.prefetch.FutureCache: values built once, in the background or on demand, with bounded memory and queue."""
from __future__ import annotations

import threading
import time

import pytest

from core.prefetch import FutureCache


def test_get_builds_once_and_evicts_least_recently_used():
    calls = []
    cache = FutureCache(max_entries=2)

    def build(k):
        return lambda: calls.append(k) or k * 10

    assert cache.get(1, build(1)) == 10 and cache.get(1, build(1)) == 10
    cache.get(2, build(2))
    cache.get(1, build(1))  # 1 is now the most recently used
    cache.get(3, build(3))  # evicts 2
    assert 1 in cache and 3 in cache and 2 not in cache and len(cache) == 2
    assert calls == [1, 2, 3]
    assert cache.stats["hits"] == 2 and cache.stats["misses"] == 3


def test_prefetch_builds_in_the_background_and_get_waits_for_it():
    release = threading.Event()
    calls = []
    cache = FutureCache(max_entries=8)

    def slow():
        calls.append(threading.current_thread().name)
        release.wait(5)
        return "card"

    assert cache.prefetch("u1", slow) is True
    assert cache.prefetch("u1", slow) is False  # already in flight: not started twice
    got = []
    waiter = threading.Thread(target=lambda: got.append(cache.get("u1", lambda: "rebuilt")))
    waiter.start()
    time.sleep(0.05)
    assert not got  # waiting on the background build, not building again
    release.set()
    waiter.join(5)
    assert got == ["card"] and len(calls) == 1 and calls[0].startswith("prefetch")


def test_prefetch_queue_is_bounded():
    gate = threading.Event()
    cache = FutureCache(max_entries=16, max_pending=2)
    started = [cache.prefetch(k, lambda: gate.wait(5)) for k in range(5)]
    assert started == [True, True, False, False, False] and cache.stats["dropped"] == 3
    gate.set()
    deadline = time.time() + 5
    while cache._pending and time.time() < deadline:
        time.sleep(0.01)
    assert cache.prefetch(9, lambda: 1) is True  # room again once the builds finished


def test_failed_builds_are_not_kept():
    cache = FutureCache()

    def boom():
        raise ValueError("bad unit")

    with pytest.raises(ValueError, match="bad unit"):
        cache.get("k", boom)
    assert "k" not in cache
    assert cache.get("k", lambda: 5) == 5  # the next request builds again

    cache.prefetch("p", boom)  # a failed background build: get() builds here and raises to its caller
    deadline = time.time() + 5
    while "p" in cache and time.time() < deadline:
        time.sleep(0.01)
    with pytest.raises(ValueError):
        cache.get("p", boom)
    assert cache.get("p", lambda: 7) == 7


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        FutureCache(max_entries=0)

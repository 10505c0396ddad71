"""ui.prefetch.FutureCache: values built once, in the background or on demand, with bounded memory and queue."""
from __future__ import annotations

import threading
import time

import pytest

from ui.prefetch import FutureCache


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
    deadline = time.time() + 5
    while not calls and time.time() < deadline:  # the build has started (one not started yet is taken over)
        time.sleep(0.01)
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
    while cache.pending and time.time() < deadline:
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


def test_delayed_prefetch_waits_then_builds_and_get_takes_over_a_waiting_one():
    cache = FutureCache(max_entries=8)
    built = []
    t0 = time.monotonic()
    assert cache.prefetch("later", lambda: built.append(time.monotonic() - t0) or "bg", delay=0.3) is True
    time.sleep(0.1)
    assert not built  # still waiting out its delay
    deadline = time.time() + 5
    while not built and time.time() < deadline:
        time.sleep(0.01)
    assert built and built[0] >= 0.3 and cache.get("later", lambda: "rebuilt") == "bg"

    # A request for a value whose prefetch has not started yet builds it at once instead of waiting.
    assert cache.prefetch("soon", lambda: built.append("background") or "bg", delay=1.5) is True
    t0 = time.monotonic()
    assert cache.get("soon", lambda: "here") == "here" and time.monotonic() - t0 < 1.0
    assert cache.get("soon", lambda: "again") == "here"  # kept
    deadline = time.time() + 4
    while cache.pending and time.time() < deadline:
        time.sleep(0.05)
    assert "background" not in built and cache.stats["taken_over"] == 1


def test_concurrent_gets_share_one_build_even_with_prefetch_takeover():
    release = threading.Event()
    calls = []
    cache = FutureCache(max_entries=8)

    def slow():
        calls.append(1)
        release.wait(5)
        return "v"

    got = []
    first = threading.Thread(target=lambda: got.append(cache.get("k", slow)))
    first.start()
    time.sleep(0.05)
    second = threading.Thread(target=lambda: got.append(cache.get("k", slow)))  # must wait, not build again
    second.start()
    time.sleep(0.05)
    release.set()
    first.join(5), second.join(5)
    assert got == ["v", "v"] and calls == [1]


def test_a_build_taken_over_frees_its_queue_slot_at_once():
    cache = FutureCache(max_entries=8, max_pending=1)
    assert cache.prefetch("a", lambda: "bg", delay=1.5) is True
    assert cache.prefetch("b", lambda: "bg", delay=1.5) is False and cache.pending == 1  # queue full
    assert cache.get("a", lambda: "here") == "here" and cache.pending == 0  # taken over: its slot is free
    assert cache.prefetch("b", lambda: "b", delay=0.0) is True
    deadline = time.time() + 5
    while cache.pending and time.time() < deadline:
        time.sleep(0.01)
    assert cache.get("b", lambda: "rebuilt") == "b" and cache.get("a", lambda: "x") == "here"

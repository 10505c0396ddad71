"""Load test of the dashboard: N concurrent browser sessions, each switching neurons on the neuron card and searching
on the zero-shot search page, for a fixed time; errors, cross-talk, latency against one session, server memory.

    .venv/bin/python benchmarks/bench_load.py                         # 1, 8 and 32 sessions, 120 s each, demo model
    .venv/bin/python benchmarks/bench_load.py --sessions 1,8 --seconds 60 --shared
    .venv/bin/python benchmarks/bench_load.py --url http://127.0.0.1:8501 --pid 1234   # a running server

A session is one browser tab (one Streamlit session, its own websocket); all tabs live in one headless Chromium
(``--contexts``: each tab in its own browser context, i.e. its own cookies and cache, as separate people; the
default). Each session loops: ``--switches`` clicks on "next" (each timed from the click to the complete new card:
share link, every card block on the new unit, images decoded, script run over), then the sidebar link to the search
page, a new word typed + Enter (timed to the settled results), and back. Every session starts on its own unit and
searches its own words, so a card or result that is not the session's own is cross-talk (counted apart from errors:
an exception shown, a wait that times out). Latency p50/p95 per action, as a ratio to the one-session run; server RSS
(VmRSS of its process) before and after each level. Bounded: ``--seconds`` per level, ``--timeout`` per action, one
level after the other; the tabs of a level open first, ``--open-at-once`` at a time (not timed), then all run
together. The server it starts listens on 127.0.0.1 only.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_browser import PAGE_JS, SETTLED_JS, wait_for_examples  # noqa: E402
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, start_server, stop_server  # noqa: E402

WORDS = ("apple banana car dog tree house music ocean flag clock spider smile guitar bread horse rocket chair lamp "
         "river cloud candle tiger bridge camera pizza violin mountain shoe train butterfly crown anchor robot castle "
         "snake kite coffee umbrella rabbit tractor kitten pencil window garden bottle ladder island wallet glove").split()


@dataclass
class Stats:
    switch: list[float] = field(default_factory=list)
    search: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    crosstalk: list[str] = field(default_factory=list)


def rss_mb(pid: int | None) -> float | None:
    """VmRSS of process ``pid`` in MB (None without a pid)."""
    if pid is None:
        return None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


async def card_state(page) -> tuple[str, list[int]]:
    return await page.evaluate("[window.__shared(), window.__cardUnits()]")


async def switch(page, unit: int, units: int, stats: Stats, timeout_ms: int) -> int:
    """Click "next" on ``unit``'s card; time it to the complete card of the next unit; return that unit."""
    want = (unit + 1) % units
    t0 = time.perf_counter()
    await page.locator(".st-key-unit_next button").click(timeout=timeout_ms)
    try:
        await page.wait_for_function(
            "(k) => new RegExp('[?&]unit=' + k + '(&|$)').test(window.__shared())"
            " && window.__images().every(i => i.complete) && window.__cardUnits().length > 0"
            " && window.__cardUnits().every(u => u === k) && !document.querySelector(\"[data-testid='stStatusWidget']\")",
            arg=want, timeout=timeout_ms)
    except Exception:  # noqa: BLE001 - a wait that ran out: whose card is shown says which kind of failure
        shared, shown = await card_state(page)
        other = [u for u in shown if u != want]
        (stats.crosstalk if other else stats.errors).append(f"switch to {want}: card shows {shown[:4]} ({shared[-40:]})")
        return await current_unit(page, unit)
    stats.switch.append(time.perf_counter() - t0)
    return want


async def current_unit(page, default: int) -> int:
    """The unit in the card's share link."""
    found = re.search(r"[?&]unit=(\d+)", (await card_state(page))[0])
    return int(found.group(1)) if found else default


async def search(page, word: str, stats: Stats, timeout_ms: int) -> None:
    """From the card: the sidebar link to the search page, ``word`` typed + Enter (timed from the key press to the
    settled results, as ``bench_browser.search_times``), then back to the card."""
    await page.locator("[data-testid='stSidebarNav'] a", has_text="Zero-shot neuron search").click(timeout=timeout_ms)
    box = page.get_by_test_id("stTextInputField").first
    await box.wait_for(timeout=timeout_ms)
    await page.evaluate(SETTLED_JS, [300, timeout_ms])
    await box.fill(word)
    await box.press("Enter")
    try:
        await page.wait_for_function("(w) => new URLSearchParams(location.search).get('q') === w", arg=word,
                                     timeout=timeout_ms)
        settled = await page.evaluate(SETTLED_JS, [500, timeout_ms])
        stats.search.append((settled - await page.evaluate("window.__down")) / 1000)
    except Exception:  # noqa: BLE001
        q = await page.evaluate("new URLSearchParams(location.search).get('q')")
        theirs = bool(q) and q != word and re.fullmatch(r"[a-z]+ \d+", q) is not None  # another session's word
        (stats.crosstalk if theirs else stats.errors).append(
            f"search {word!r}: the page shows q={q!r}")
    await page.locator("[data-testid='stSidebarNav'] a", has_text="Neuron lookup").click(timeout=timeout_ms)


async def open_session(ctx, base: str, idx: int, units: int, args, gate: asyncio.Semaphore):
    """Open session ``idx``'s tab on its own unit and wait for its card (at most ``--open-at-once`` tabs load at a
    time: the first load is not what is measured, and 32 at once on a small machine only time out)."""
    page = await ctx.new_page()
    unit = (7 + 37 * idx) % units  # every session on its own unit
    async with gate:
        await page.goto(f"{base}/?unit={unit}", wait_until="domcontentloaded", timeout=args.open_timeout * 1000)
        await page.evaluate(PAGE_JS)
        await page.evaluate("document.addEventListener('keydown', (e) => { if (e.key === 'Enter') "
                            "window.__down = e.timeStamp; }, true)")
        await page.locator(".st-key-unit_next button").wait_for(timeout=args.open_timeout * 1000)
        await page.evaluate(SETTLED_JS, [500, args.open_timeout * 1000])
    return page, unit


async def session(page, idx: int, unit: int, units: int, args, stop_at: float, stats: Stats) -> None:
    try:
        n = 0
        while time.time() < stop_at:
            for _ in range(args.switches):
                if time.time() >= stop_at:
                    break
                unit = await switch(page, unit, units, stats, args.timeout * 1000)
                await page.wait_for_timeout(args.pause_ms)
            if time.time() >= stop_at:
                break
            await search(page, f"{WORDS[(idx * 5 + n) % len(WORDS)]} {idx}", stats, args.timeout * 1000)
            n += 1
            await page.locator(".st-key-unit_next button").wait_for(timeout=args.timeout * 1000)
            await page.evaluate(SETTLED_JS, [300, args.timeout * 1000])
            back = await current_unit(page, -1)
            if back != unit:  # the card this session left, or another session's
                stats.crosstalk.append(f"session {idx}: back on the card, unit {back} instead of {unit}")
                unit = back if back >= 0 else unit
            if await page.locator("[data-testid='stException']").count():
                stats.errors.append(f"session {idx}: an exception is shown")
    except Exception as err:  # noqa: BLE001 - any failure of a session's loop is an error of the level
        stats.errors.append(f"session {idx}: {type(err).__name__}: {str(err).splitlines()[0][:160]}")
    finally:
        if await page.locator("[data-testid='stException']").count():
            stats.errors.append(f"session {idx}: an exception is shown")
        await page.close()


async def level(browser, base: str, n: int, units: int, args) -> tuple[Stats, float]:
    """One level: ``n`` tabs opened (not timed), then all of them busy for ``--seconds``; (stats, opening seconds)."""
    stats = Stats()
    if args.contexts:
        ctxs = [await browser.new_context(viewport={"width": 1280, "height": 1400}) for _ in range(n)]
    else:
        ctxs = [await browser.new_context(viewport={"width": 1280, "height": 1400})] * n
    t0 = time.perf_counter()
    gate = asyncio.Semaphore(args.open_at_once)
    opened = await asyncio.gather(*(open_session(ctxs[i], base, i, units, args, gate) for i in range(n)),
                                  return_exceptions=True)
    opening = time.perf_counter() - t0
    stop_at = time.time() + args.seconds
    runs = []
    for i, got in enumerate(opened):
        if isinstance(got, BaseException):
            stats.errors.append(f"session {i} did not open: {type(got).__name__}: {str(got).splitlines()[0][:120]}")
        else:
            runs.append(session(got[0], i, got[1], units, args, stop_at, stats))
    await asyncio.gather(*runs)
    for c in set(ctxs):
        await c.close()
    return stats, opening


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


async def run(base: str, pid: int | None, args) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        probe = await browser.new_page()
        await probe.goto(base + "/?unit=0")
        caption = probe.get_by_text(re.compile(r"^\d+ units in this layer$")).first
        await caption.wait_for(timeout=args.timeout * 1000)
        units = int((await caption.inner_text()).split()[0])
        await probe.close()
        print(f"server {base}; {units} units in the default layer; load average {os.getloadavg()[0]:.1f} on "
              f"{os.cpu_count()} CPUs; one Chromium, {'a context per session' if args.contexts else 'one context'}")
        print(f"{'sessions':>8} {'switches':>9} {'p50 ms':>7} {'p95 ms':>7} {'x1 p50':>7} {'x1 p95':>7} "
              f"{'searches':>9} {'p50 ms':>7} {'p95 ms':>7} {'x1 p50':>7} {'x1 p95':>7} {'errors':>7} {'xtalk':>6} "
              f"{'RSS MB before':>14} {'after':>6}")
        one = None
        for n in args.sessions:
            before = rss_mb(pid)
            stats, opening = await level(browser, base, n, units, args)
            after = rss_mb(pid)
            sw50, sw95, se50, se95 = (pct(stats.switch, .5), pct(stats.switch, .95), pct(stats.search, .5),
                                      pct(stats.search, .95))
            one = one or (sw50, sw95, se50, se95)
            print(f"{n:>8} {len(stats.switch):>9} {sw50 * 1000:>7.0f} {sw95 * 1000:>7.0f} {sw50 / one[0]:>7.2f} "
                  f"{sw95 / one[1]:>7.2f} {len(stats.search):>9} {se50 * 1000:>7.0f} {se95 * 1000:>7.0f} "
                  f"{se50 / one[2]:>7.2f} {se95 / one[3]:>7.2f} {len(stats.errors):>7} {len(stats.crosstalk):>6} "
                  f"{before or float('nan'):>14.0f} {after or float('nan'):>6.0f}   load {os.getloadavg()[0]:.1f}, "
                  f"tabs opened in {opening:.0f} s",
                  flush=True)
            for line in (stats.errors + stats.crosstalk)[:8]:
                print("   ", line)
        await browser.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", help="load a running app instead of starting one (loopback only)")
    ap.add_argument("--pid", type=int, help="with --url: the server's process id, for its RSS")
    ap.add_argument("--model", default=None, help="model id of the started server (default: demo)")
    ap.add_argument("--artifacts", type=Path, help="artifacts dir of the started server (default: a fresh one, whose "
                    "first use indexes the demo collection; pass one indexed before to skip that)")
    ap.add_argument("--shared", action="store_true", help="start the server in shared mode (CLIP_EXPLORER_SHARED=1)")
    ap.add_argument("--sessions", default="1,8,32", help="concurrent sessions per level, comma-separated; the first "
                    "level is the baseline of the ratios (default 1,8,32)")
    ap.add_argument("--seconds", type=float, default=120.0, help="duration of each level (default 120)")
    ap.add_argument("--switches", type=int, default=3, help="neuron switches between two searches (default 3)")
    ap.add_argument("--pause-ms", type=int, default=300, help="pause after each switch: a person reading (300)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds an action may take before it is an error")
    ap.add_argument("--open-at-once", type=int, default=4, help="tabs loading their first page at a time (4)")
    ap.add_argument("--open-timeout", type=float, default=180.0, help="seconds a tab's first load may take (180)")
    ap.add_argument("--one-context", dest="contexts", action="store_false",
                    help="all sessions as tabs of one browser context (default: a context each)")
    args = ap.parse_args(argv)
    args.sessions = [int(s) for s in args.sessions.split(",")]
    if args.url and not re.match(r"https?://(127\.0\.0\.1|localhost|\[::1\])[:/]", args.url):
        ap.error("--url must be a loopback address")
    proc, pid = None, args.pid
    if args.url:
        base = args.url.rstrip("/")
    else:
        tmp = Path(tempfile.mkdtemp(prefix="bench_load_"))
        proc, base = start_server(args.artifacts or tmp / "artifacts", tmp / "streamlit.log", model=args.model,
                                  env={"CLIP_EXPLORER_SHARED": "1"} if args.shared else None)
        pid = proc.pid
    try:
        from playwright.sync_api import sync_playwright

        t0 = time.perf_counter()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            wait_for_examples(browser, base)  # first use indexes the demo collection: not counted
            browser.close()
        print(f"warm-up (model load + collection index, not counted): {time.perf_counter() - t0:.1f} s")
        asyncio.run(run(base, pid, args))
    finally:
        if proc is not None:
            stop_server(proc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

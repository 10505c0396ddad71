"""Open every page of the dashboard on one collection in headless Chromium: each must render without an error.

Usage: ``.venv/bin/python benchmarks/open_pages.py --artifacts DIR --collection NAME [--model ID] [--shots DIR]
[--params unit=12] [--pages neuron_lookup ...]``

Starts the dashboard on ``--model`` (default: the demo model) with ``CLIP_EXPLORER_ARTIFACTS=DIR``, opens each page
of ``pages/`` with ``?collection=NAME`` in a fresh browser context, waits until its output stopped changing, and
prints per page: the seconds to that point, the number of exceptions (Streamlit's boxes and the app's "Something
went wrong" reports), and the warnings and messages it shows.
Then the server's peak RSS. ``--shots``: a full-page screenshot per page (``<page>.png``). Exit status 1 when any page shows an exception.
Made for the synthetic million-image artifact (``make_synthetic_artifact.py``, with the loaded model's id,
fingerprint and layer), whose pictures do not exist: pages say so where they would draw them.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.bench_browser import SETTLED_JS  # noqa: E402
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, start_server, stop_server  # noqa: E402

ALERTS = "[data-testid='stAlertContainer']"
BUG = "Something went wrong inside the app"  # ui.errors.error_box's words for an unexpected error


def page_paths() -> dict[str, str]:
    """Page name -> URL path, the neuron lookup page being the app's root."""
    return {p.stem: "/" if p.stem == "neuron_lookup" else f"/{p.stem}" for p in sorted((REPO / "pages").glob("*.py"))}


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (``VmHWM``), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def visit(browser, url: str, shot: Path | None, height: int = 1600) -> dict:
    ctx = browser.new_context(viewport={"width": 1400, "height": height})
    page = ctx.new_page()
    t0 = time.perf_counter()
    page.goto(url, wait_until="domcontentloaded")
    page.locator("[data-testid='stMain'] [data-testid='stElementContainer']").first.wait_for(timeout=300_000)
    page.evaluate(SETTLED_JS, [1500, 600_000])
    seconds = time.perf_counter() - t0
    alerts = []
    for text in page.locator(ALERTS).all_inner_texts():
        lines = [x.strip() for x in text.splitlines() if x.strip()]
        if lines and lines[0].replace("_", "").isalpha() and lines[0].islower() and len(lines) > 1:
            lines = lines[1:]  # the alert's icon, a Material Symbols ligature (e.g. "hide_image")
        if lines:
            alerts.append(lines[0][:160])
    out = {"seconds": seconds, "alerts": alerts,  # an exception box, or the app's own report of a bug
           "exceptions": page.locator("[data-testid='stException']").count() + sum(BUG in a for a in alerts)}
    if shot is not None:
        page.screenshot(path=str(shot), full_page=True)
    ctx.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--artifacts", required=True, type=Path, help="the artifacts folder (indexes/NAME inside)")
    ap.add_argument("--collection", required=True)
    ap.add_argument("--model", default=None)
    ap.add_argument("--shots", type=Path, default=None)
    ap.add_argument("--params", default="", help="more URL parameters for every page, e.g. unit=12")
    ap.add_argument("--height", type=int, default=1600, help="the browser window's height (the app scrolls inside it)")
    ap.add_argument("--pages", nargs="*", default=None, help="only these pages (file names without .py)")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    if args.shots:
        args.shots.mkdir(parents=True, exist_ok=True)
    log = Path(tempfile.mkdtemp(prefix="open_pages_")) / "streamlit.log"
    proc, base = start_server(args.artifacts, log, model=args.model)
    failed = 0
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            t0 = time.perf_counter()
            visit(browser, f"{base}/?collection={args.collection}", None)
            print(f"warm-up (model load, collection open): {time.perf_counter() - t0:.1f} s", flush=True)
            extra = f"&{args.params}" if args.params else ""
            for name, path in page_paths().items():
                if args.pages and name not in args.pages:
                    continue
                res = visit(browser, f"{base}{path}?collection={args.collection}{extra}",
                            args.shots / f"{name}.png" if args.shots else None, args.height)
                failed += res["exceptions"] > 0
                print(f"{name:<26} {res['seconds']:6.1f} s  exceptions {res['exceptions']}  "
                      f"messages: {' | '.join(res['alerts']) or '-'}", flush=True)
            browser.close()
        print(f"server peak RSS (VmHWM): {peak_rss_mb(proc.pid):,.0f} MB")
    finally:
        stop_server(proc)
    print(f"{failed} page(s) with an exception; server log: {log}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

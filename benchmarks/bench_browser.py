"""Browser benchmark of the dashboard: first render of each page (model already cached) and the
neuron-to-neuron switch time on the neuron card, and the search page's answer to a new query, measured in
headless Chromium.

    .venv/bin/python benchmarks/bench_browser.py              # starts its own server on the demo model
    .venv/bin/python benchmarks/bench_browser.py --url http://127.0.0.1:8501   # an already running app
    .venv/bin/python benchmarks/bench_browser.py --plain      # first renders also in a browser with no automation

"First render" = from navigation start until the page's script run is over and its output stopped
changing (every element in place, images decoded), in a fresh browser context, after a warm-up visit
that loads the model and the collection; and, in one tab that already shows the app, from a click on a sidebar
page link until that page settled (the front end stays loaded). With ``--plain``, first renders are also timed
in a Chromium that no automation is attached to (``page_probe``), beside the floors every page starts from: an
empty Streamlit app and the dashboard's shell with no page (``FLOORS``). Targets: first render < 2 s, neuron switch
(p50) < 300 ms.
Figures are printed with their ratio to the target (< 1.0 meets it).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, start_server, stop_server  # noqa: E402

PAGES = {  # page -> url path + query (the search page is measured with a query, as users land on it)
    "neuron lookup": "/?unit=1",
    "neuron search": "/neuron_search?q=flower",
    "conditional probability": "/conditional_probability",
    "typographic attacks": "/typographic_attack",
}
MORE_PAGES = {  # --all-pages: the rest of the dashboard, as a visitor lands on each
    "attack lab": "/attack_lab",
    "sparse concept codes": "/concept_codes?concept=happy",
    "interventions": "/interventions",
    "region maps": "/region_maps",
    "layer grid": "/layer_grid",
    "the article's units": "/article_units",
}
FIRST_RENDER_TARGET_S = 2.0
SWITCH_TARGET_S = 0.3

# The page's images, including those the neuron card draws inside its components' shadow roots, and the
# units the card's blocks show (``ui.html.tagged``).
PAGE_JS = """
window.__images = () => Array.from(document.images).concat(
  ...Array.from(document.querySelectorAll("[data-testid='stBidiComponentIsolated']"))
    .map((h) => (h.shadowRoot ? Array.from(h.shadowRoot.querySelectorAll('img')) : [])));
window.__cardUnits = () => Array.from(document.querySelectorAll("[data-testid='stBidiComponentIsolated']"))
  .flatMap((h) => (h.shadowRoot ? Array.from(h.shadowRoot.querySelectorAll('[data-card-unit]')) : []))
  .map((e) => Number(e.dataset.cardUnit));
window.__shared = () => Array.from(document.querySelectorAll("[data-testid='stBidiComponentIsolated']"))
  .flatMap((h) => (h.shadowRoot ? Array.from(h.shadowRoot.querySelectorAll('[data-share]')) : []))
  .map((e) => e.textContent).join(' ');
"""

# Resolves with the time (performance.now(), ms) of the last DOM change once the app has been idle (no
# "running" status widget, no DOM mutation, all images decoded) for `quiet` ms and the page is complete: no element
# still a skeleton (Streamlit draws one while an element's code chunk loads, which can take longer than `quiet`
# without a DOM change) and every Vega chart drawn.
SETTLED_JS = """
([quiet, timeout]) => new Promise((resolve, reject) => {
  PAGE_JS_HERE
  let last = performance.now();
  const obs = new MutationObserver(() => { last = performance.now(); });
  obs.observe(document.documentElement, {subtree: true, childList: true, attributes: true, characterData: true});
  const t0 = performance.now();
  const tick = () => {
    const running = document.querySelector("[data-testid='stStatusWidget']");
    const imgs = window.__images().every(i => i.complete);
    const main = document.querySelector("[data-testid='stMain'] [data-testid='stElementContainer']");
    const pending = document.querySelector("[data-testid$='Skeleton']")
      || Array.from(document.querySelectorAll("[data-testid='stVegaLiteChart']")).some((c) => !c.querySelector('svg, canvas'));
    if (running || !imgs || !main || pending) { last = Math.max(last, performance.now()); }
    if (performance.now() - last >= quiet && main) { obs.disconnect(); resolve(last); return; }
    if (performance.now() - t0 > timeout) { obs.disconnect(); reject(new Error('not settled')); return; }
    setTimeout(tick, 20);
  };
  tick();
})
"""
SETTLED_JS = SETTLED_JS.replace("PAGE_JS_HERE", PAGE_JS)


def first_render(browser, base: str, path: str, ctx=None) -> tuple[float, float]:
    """Seconds from navigation start to the last DOM change of the first complete render, and to the
    first element of the page (the Streamlit front end's own start-up, a floor for every page). In a fresh
    browser context (empty HTTP cache) unless ``ctx`` is given: then in a new tab of that context."""
    own = ctx is None
    ctx = ctx or browser.new_context(viewport={"width": 1400, "height": 1600})
    page = ctx.new_page()
    page.goto(base + path, wait_until="domcontentloaded")
    page.locator("[data-testid='stMain'] [data-testid='stElementContainer']").first.wait_for(timeout=120_000)
    boot_ms = page.evaluate("performance.now()")
    settled_ms = page.evaluate(SETTLED_JS, [700, 120_000])
    errors = page.locator("[data-testid='stException']").count()
    page.close()
    if own:
        ctx.close()
    if errors:
        raise RuntimeError(f"{path} shows an exception")
    return settled_ms / 1000, boot_ms / 1000  # performance.now() counts from the navigation start


def plain_render(base: str, path: str, reports: Path, timeout: float = 120) -> tuple[float, float]:
    """Like ``first_render``, in a Chromium that no automation is attached to, as a person's browser is
    (``page_probe``; the server must be ``benchmarks/probe_app.py`` writing to ``reports``): a new browser process
    on a new, empty profile, which opens the page 2 s after its own start; the page times itself and reports."""
    token = uuid.uuid4().hex
    opener = "<script>setTimeout(() => { location.href = %s; }, 2000)</script>" % json.dumps(f"{base}{path}#{token}")
    profile = tempfile.mkdtemp(prefix="bench_profile_")
    proc = subprocess.Popen([CHROMIUM, "--headless", *CHROMIUM_ARGS, f"--user-data-dir={profile}",
                             "--window-size=1400,1600", "data:text/html," + urllib.parse.quote(opener)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + timeout
        while True:
            mine = [r for r in map(json.loads, reports.read_text().splitlines() if reports.exists() else [])
                    if r.get("token") == token]
            if mine:
                break
            if time.time() > deadline:
                raise RuntimeError(f"{path}: no report from the page in {timeout:.0f} s (see the server log)")
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(profile, ignore_errors=True)
    if mine[0]["errors"]:
        raise RuntimeError(f"{path} shows an exception")
    return mine[0]["settled"] / 1000, mine[0]["boot"] / 1000


NAV = {"neuron search": "Zero-shot neuron search", "conditional probability": "Conditional probability",
       "typographic attacks": "Typographic attacks", "neuron lookup": "Neuron lookup"}


def nav_renders(browser, base: str) -> dict[str, float]:
    """Seconds from a click on a sidebar page link until that page's first render settled, in one browser tab
    that already shows the app (how people move between pages: the front end stays loaded, the server runs
    the new page's script). Each page once, in the order of ``NAV``, starting from the lookup page."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1600})
    page = ctx.new_page()
    page.goto(base + "/?unit=1")
    page.evaluate(SETTLED_JS, [700, 120_000])
    out = {}
    for name, title in NAV.items():
        link = page.locator("[data-testid='stSidebarNavLink']", has_text=title).first
        t0 = page.evaluate("performance.now()")
        link.click(timeout=120_000)
        page.wait_for_function("!document.querySelector(\"[data-testid='stStatusWidget']\")", timeout=120_000)
        settled = page.evaluate(SETTLED_JS, [700, 120_000])
        if page.locator("[data-testid='stException']").count():
            raise RuntimeError(f"{title} shows an exception")
        out[name] = (settled - t0) / 1000
    ctx.close()
    return out


# Installed before a click on "next": resolves with ms from the press (the pointerdown event's timestamp) to the
# first frame after the new neuron's card is complete (share link shows unit=k, every block of the card shows
# unit k, all images decoded, no script running): the latency a person sees, without the driver's own round trips.
SWITCH_JS = """
(k) => { PAGE_JS_HERE
  window.__switch = new Promise((resolve) => {
  let down = null;
  document.addEventListener('pointerdown', (e) => { down = e.timeStamp; }, {once: true, capture: true});
  const tick = async () => {
    const shown = window.__shared().split(/[?&\s]/).includes('unit=' + k);
    const units = window.__cardUnits();
    if (down === null || !shown || !units.length || units.some((u) => u !== k)
        || document.querySelector("[data-testid='stStatusWidget']")) {
      setTimeout(tick, 5); return;
    }
    await Promise.all(window.__images().map((i) => i.decode().catch(() => null)));
    requestAnimationFrame(() => resolve(performance.now() - down));
  };
  tick();
}); }
"""
SWITCH_JS = SWITCH_JS.replace("PAGE_JS_HERE", PAGE_JS)


def switch_times(browser, base: str, n: int, start: int = 10, pause_ms: int = 300) -> tuple[list[float], list[float]]:
    """Per click on "next" from unit ``start``, ``pause_ms`` after the previous card was complete (a person reading
    it; 0 = clicking through): (seconds seen in the page from the press to the complete new card, seconds the
    driver waited from its click call until it saw the same: adds the driver's round trips)."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1600})
    page = ctx.new_page()
    page.goto(base + f"/?unit={start}")
    page.locator("[data-share]", has_text=f"unit={start}").wait_for(timeout=120_000)
    page.evaluate(SETTLED_JS, [700, 120_000])
    in_page, driver = [], []
    for k in range(start + 1, start + 1 + n):
        page.evaluate(SWITCH_JS, k)
        t0 = time.perf_counter()
        page.locator(".st-key-unit_next button").click(timeout=120_000)
        page.locator("[data-share]", has_text=f"unit={k}").wait_for(timeout=120_000)
        page.wait_for_function("window.__images().every(i => i.complete) && window.__cardUnits().every(u => u === "
                               f"{k}) && !document.querySelector(\"[data-testid='stStatusWidget']\")", timeout=120_000)
        driver.append(time.perf_counter() - t0)
        in_page.append(page.evaluate("window.__switch") / 1000)
        if pause_ms:
            page.wait_for_timeout(pause_ms)
    ctx.close()
    return in_page, driver


QUERIES = ("apple banana car dog tree house music ocean flag clock spider smile guitar bread horse rocket chair lamp "
           "river cloud candle tiger bridge camera pizza violin mountain shoe train butterfly crown anchor robot "
           "castle snake kite coffee umbrella rabbit tractor").split()  # each searched once per server (cached after)


def search_times(browser, base: str, words: list[str]) -> list[float]:
    """Per query on the search page: seconds from the Enter key press (its event's timestamp) to the page settled
    with the results (``SETTLED_JS``); each word should be new to the server, whose results are cached."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1600})
    page = ctx.new_page()
    page.goto(base + "/neuron_search?q=flower")
    page.evaluate(SETTLED_JS, [700, 120_000])
    page.evaluate("document.addEventListener('keydown', (e) => { if (e.key === 'Enter') window.__down = e.timeStamp; },"
                  " true)")
    box = page.get_by_test_id("stTextInputField").first
    out = []
    for word in words:
        box.fill(word)
        box.press("Enter")
        page.wait_for_function("(w) => new URLSearchParams(location.search).get('q') === w", arg=word,
                               timeout=120_000)
        settled = page.evaluate(SETTLED_JS, [700, 120_000])
        if page.locator("[data-testid='stException']").count():
            raise RuntimeError(f"searching {word!r} shows an exception")
        out.append((settled - page.evaluate("window.__down")) / 1000)
    ctx.close()
    return out


def wait_for_examples(browser, base: str) -> None:
    """Wait until the neuron card shows dataset examples, i.e. the collection's first-use index is built."""
    ctx = browser.new_context()
    page = ctx.new_page()
    deadline = time.time() + 600
    while time.time() < deadline:
        page.goto(base + "/?unit=1")
        try:
            page.locator("img[src^='data:image/jpeg']").first.wait_for(timeout=20_000)
            break
        except Exception:  # still indexing: the card shows the progress instead
            continue
    ctx.close()


BASELINES = {  # --baseline NAME: a second server that differs in one setting (environment variable), and what to time
    "gc": ({"STREAMLIT_RUNNER_POST_SCRIPT_GC": "true"}, "Streamlit's default gc.collect() after every run", "switch"),
    "prefetch": ({"CLIP_EXPLORER_PREFETCH_DELAY": "0"}, "next cards prefetched at once, not after 0.35 s", "switch"),
    "static": ({"CLIP_EXPLORER_STATIC_FROM_MEMORY": "0"}, "front-end files served by Streamlit from disk", "first"),
    "threads": ({"CLIP_EXPLORER_SERVER_THREADS": str(os.cpu_count() or 1)}, "torch given every core", "search"),
}


def checkout(tmp: Path, ref: str) -> tuple[Path, str]:
    """The tree of commit ``ref`` of this repository, extracted under ``tmp`` (``git archive``: no worktree to clean
    up), and its short hash. Its server runs on this checkout's virtual environment."""
    short = subprocess.run(["git", "rev-parse", "--short", ref], cwd=REPO, check=True, capture_output=True,
                           text=True).stdout.strip()
    dest = tmp / f"commit-{short}"
    dest.mkdir()
    archive = subprocess.run(["git", "archive", "--format=tar", short], cwd=REPO, check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest, short


def baseline_server(tmp: Path, args, name: str, browser) -> tuple:
    """A second server started with ``BASELINES[name]``'s environment (and, for ``--against``, from the other
    commit's tree with its own artifacts folder), warmed up like the first."""
    env, cwd = BASELINES[name][0], BASELINES[name][3] if len(BASELINES[name]) > 3 else None
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        proc, other = start_server(tmp / ("artifacts" if cwd is None else f"artifacts-{name}"),
                                   tmp / f"streamlit-{name}.log", model=args.model, cwd=cwd)
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    first_render(browser, other, "/")
    wait_for_examples(browser, other)
    return proc, other


def baseline_first_renders(browser, tmp: Path, args, base: str, name: str) -> None:
    """First renders (fresh browser context) of each page on this server and on the baseline server, alternating
    one by one (the load of the machine drifts)."""
    proc, other = baseline_server(tmp, args, name, browser)
    try:
        for page, path in PAGES.items():
            first_render(browser, other, path)  # both servers have run this page once
            ours, theirs = [], []
            for _ in range(args.repeats + 2):
                ours.append(first_render(browser, base, path)[0])
                theirs.append(first_render(browser, other, path)[0])
            p_ours, p_theirs = statistics.median(ours), statistics.median(theirs)
            print(f"A/B first render, {page} (medians of {len(ours)}, alternating): this app {p_ours:.2f} s; "
                  f"{BASELINES[name][1]}: {p_theirs:.2f} s (ours / baseline: {p_ours / p_theirs:.2f})")
    finally:
        stop_server(proc)


def baseline_switches(browser, tmp: Path, args, base: str, name: str) -> None:
    """Neuron switches on this server and on a second one started with ``BASELINES[name]``'s environment, in
    alternating batches on fresh units (the load of the machine drifts; each batch's cards are new to both)."""
    what = BASELINES[name][1]
    proc, other = baseline_server(tmp, args, name, browser)
    runs = {pause: ([], []) for pause in (300, 0)}
    try:
        for r in range(4):
            pause = 0 if r == 3 else 300  # three batches read each card 0.3 s, one clicks straight through
            start = 100 + 40 * r  # units no earlier batch visited
            runs[pause][0].extend(switch_times(browser, base, args.switches, start, pause)[0])
            runs[pause][1].extend(switch_times(browser, other, args.switches, start, pause)[0])
    finally:
        stop_server(proc)
    for pause, (ours, theirs) in runs.items():
        p_ours, p_theirs = statistics.median(ours), statistics.median(theirs)
        print(f"A/B, alternating batches, {f'{pause} ms on each card' if pause else 'clicking straight through'} "
              f"(n={len(ours)} each): this app p50 {p_ours * 1000:.0f} ms; {what}: p50 {p_theirs * 1000:.0f} ms "
              f"(ours / baseline: {p_ours / p_theirs:.2f})")


def plain_first_renders(browser, base: str, reports: Path, repeats: int) -> None:
    """First renders of each page in Chromium driven by Playwright (``first_render``) and in Chromium with no
    automation attached (``plain_render``), alternating one by one on the same server."""
    for page, path in PAGES.items():
        driven, plain = [], []
        for _ in range(repeats):
            driven.append(first_render(browser, base, path)[0])
            plain.append(plain_render(base, path, reports)[0])
        p_driven, p_plain = statistics.median(driven), statistics.median(plain)
        print(f"first render, {page} (medians of {repeats}, alternating): no automation attached {p_plain:.2f} s "
              f"(ratio to 2 s: {p_plain / FIRST_RENDER_TARGET_S:.2f}); driven by Playwright {p_driven:.2f} s "
              f"(plain / driven: {p_plain / p_driven:.2f}); runs {', '.join(f'{x:.2f}' for x in plain)} / "
              f"{', '.join(f'{x:.2f}' for x in driven)}")


FLOORS = {"empty Streamlit app (one title)": "empty_app.py", "dashboard shell, no page (sidebar pickers, model and "
          "collection loaded)": "shell_app.py"}


def floor_renders(browser, tmp: Path, args, base: str, reports: Path, repeats: int) -> None:
    """Plain first renders of the floors every page starts from (``FLOORS``: Streamlit's own, then the dashboard's
    shell), each on its own server over the same artifacts, alternating one by one with the lookup page."""
    servers = {}
    try:
        for name, script in FLOORS.items():
            proc, url = start_server(tmp / "artifacts", tmp / f"streamlit-{script}.log", model=args.model,
                                     script="benchmarks/probe_app.py",
                                     env={"BENCH_PROBE_OUT": str(reports),
                                          "BENCH_PROBE_SCRIPT": str(REPO / "benchmarks" / script)})
            servers[name] = (proc, url)
            first_render(browser, url, PAGES["neuron lookup"])  # warm-up: model, collection (the shell's)
        runs = {name: [] for name in [*FLOORS, "neuron lookup"]}
        for _ in range(repeats):
            for name in runs:
                url = servers[name][1] if name in servers else base
                runs[name].append(plain_render(url, PAGES["neuron lookup"], reports)[0])
    finally:
        for proc, _ in servers.values():
            stop_server(proc)
    med = {name: statistics.median(r) for name, r in runs.items()}
    names = list(runs)
    for i, name in enumerate(names):
        step = f"; + {med[name] - med[names[i - 1]]:.2f} s over the line above" if i else ""
        print(f"floor, no automation attached (medians of {repeats}, alternating): {name} {med[name]:.2f} s "
              f"(ratio to 2 s: {med[name] / FIRST_RENDER_TARGET_S:.2f}{step}); runs "
              f"{', '.join(f'{x:.2f}' for x in runs[name])}")


def baseline_searches(browser, tmp: Path, args, base: str, name: str) -> None:
    """Search queries on this server and on the baseline server, in alternating batches of words new to both."""
    proc, other = baseline_server(tmp, args, name, browser)
    ours, theirs = [], []
    try:
        words = QUERIES[10:]  # the main run searched the first ten on this server
        for r in range(3):
            batch = words[r * 8:(r + 1) * 8]
            ours.extend(search_times(browser, base, batch))
            theirs.extend(search_times(browser, other, batch))
    finally:
        stop_server(proc)
    p_ours, p_theirs = statistics.median(ours), statistics.median(theirs)
    print(f"A/B search, Enter to results, alternating batches (n={len(ours)} each): this app p50 {p_ours * 1000:.0f} ms; "
          f"{BASELINES[name][1]}: p50 {p_theirs * 1000:.0f} ms (ours / baseline: {p_ours / p_theirs:.2f})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", help="benchmark a running app instead of starting one")
    ap.add_argument("--model", default=None, help="model id for the started server (default: demo)")
    ap.add_argument("--repeats", type=int, default=3, help="fresh-context renders per page (median reported)")
    ap.add_argument("--switches", type=int, default=15)
    ap.add_argument("--baseline", choices=sorted(BASELINES), action="append", default=[],
                    help="also measure against a second server that differs in one setting, side by side: "
                         "gc = Streamlit's default post-run gc.collect() (the repo's .streamlit/config.toml turns "
                         "it off; neuron switches); prefetch = likely next cards built at once instead of after "
                         "CLIP_EXPLORER_PREFETCH_DELAY (neuron switches); static = the front end's files served by "
                         "Streamlit from disk instead of from memory (first renders); threads = torch given every "
                         "core instead of CLIP_EXPLORER_SERVER_THREADS (search queries) (repeatable)")
    ap.add_argument("--against", metavar="REF",
                    help="also measure first renders, neuron switches and search against the same dashboard at "
                         "another commit (e.g. the one before a restructuring), side by side, alternating")
    ap.add_argument("--all-pages", action="store_true",
                    help="first renders of every page of the dashboard, not only the four the targets name")
    ap.add_argument("--plain", action="store_true",
                    help="also time first renders in a Chromium that no automation is attached to (a person's "
                         "browser), side by side with Playwright's; the server then runs benchmarks/probe_app.py, "
                         "the dashboard with a timing script in its pages")
    args = ap.parse_args(argv)
    if args.all_pages:
        PAGES.update(MORE_PAGES)
    if args.url and (args.plain or args.baseline or args.against):
        ap.error("--plain and --baseline start their own servers: leave out --url")
    if args.plain and (args.baseline or args.against):
        ap.error("run --plain and --baseline separately (--plain's server adds its timing script to every page)")
    from playwright.sync_api import sync_playwright

    proc = None
    if args.url:
        base = args.url.rstrip("/")
    else:
        tmp = Path(tempfile.mkdtemp(prefix="bench_browser_"))
        reports = tmp / "page-reports.jsonl"
        proc, base = start_server(tmp / "artifacts", tmp / "streamlit.log", model=args.model,
                                  **({"script": "benchmarks/probe_app.py", "env": {"BENCH_PROBE_OUT": str(reports)}}
                                     if args.plain else {}))
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            t0 = time.perf_counter()
            first_render(browser, base, "/")  # warm-up: loads the model, (first use) indexes the collection
            wait_for_examples(browser, base)  # the first-use index runs in the background: let it finish
            print(f"warm-up (model load + collection index, not counted): {time.perf_counter() - t0:.1f} s")
            print(f"load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
            print(f"{'page':<26}{'first render (s)':>18}{'ratio to 2 s':>14}{'first element (s)':>19}   all runs")
            for name, path in PAGES.items():
                runs = [first_render(browser, base, path) for _ in range(args.repeats)]
                full = [r[0] for r in runs]
                print(f"{name:<26}{full[0]:>18.2f}{full[0] / FIRST_RENDER_TARGET_S:>14.2f}{runs[0][1]:>19.2f}   "
                      f"{', '.join(f'{r:.2f}' for r in full)} (median {statistics.median(full):.2f})")
            if args.plain:
                plain_first_renders(browser, base, reports, args.repeats + 2)
                floor_renders(browser, tmp, args, base, reports, args.repeats + 2)
            warm = browser.new_context(viewport={"width": 1400, "height": 1600})
            first_render(browser, base, "/", warm)  # this browser has opened the app once: its HTTP cache holds the front end
            print("same, in a new tab of a browser that opened the app before (front end in its HTTP cache): " + ", ".join(
                f"{name} {statistics.median([first_render(browser, base, path, warm)[0] for _ in range(args.repeats)]):.2f} s"
                for name, path in PAGES.items()))
            warm.close()
            nav = nav_renders(browser, base)
            print("in-app page switch (sidebar link, front end already loaded): " + ", ".join(
                f"{name} {sec:.2f} s ({sec / FIRST_RENDER_TARGET_S:.2f} of 2 s)" for name, sec in nav.items()))
            sw, drv = switch_times(browser, base, args.switches)
            p50, p90 = statistics.median(sw), sorted(sw)[int(0.9 * (len(sw) - 1))]
            print(f"neuron switch (next, new unit each time), press to complete card in the page: p50 {p50 * 1000:.0f} ms "
                  f"(ratio to 300 ms: {p50 / SWITCH_TARGET_S:.2f}), p90 {p90 * 1000:.0f} ms, n={len(sw)}; "
                  f"as the driver saw it (its click call to its check): p50 {statistics.median(drv) * 1000:.0f} ms")
            found = search_times(browser, base, QUERIES[:10])
            print(f"search (a new concept typed, Enter to complete results): p50 {statistics.median(found) * 1000:.0f} ms,"
                  f" max {max(found) * 1000:.0f} ms, n={len(found)}")
            measures = {"first": baseline_first_renders, "switch": baseline_switches, "search": baseline_searches}
            for name in args.baseline:
                measures[BASELINES[name][2]](browser, tmp, args, base, name)
            if args.against:
                tree, short = checkout(tmp, args.against)
                name = f"commit-{short}"
                BASELINES[name] = ({}, f"commit {short}", "all", tree)
                for measure in measures.values():
                    measure(browser, tmp, args, base, name)
            browser.close()
    finally:
        if proc is not None:
            stop_server(proc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

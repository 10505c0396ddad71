"""End-to-end: the real dashboard in headless Chromium on the embedded demo model.

Open the app (first use indexes the demo collection), search a concept, open the first neuron, see its card
(images + charts), open the shared link in a fresh browser context, run a typographic attack, and never see
an exception. Screenshots go to test-artifacts/e2e/.
"""
from __future__ import annotations

import json
import re
import urllib.parse

import pytest

from core.config import ASSETS_DIR as ASSETS
from tests.e2e.conftest import SHOTS

pytestmark = pytest.mark.e2e

T = 120_000  # ms: the first view loads the model and indexes the demo collection


def href(page) -> str:
    """The address bar's URL (Streamlit updates it with history.replaceState, which page.url can miss)."""
    return page.evaluate("location.href")


def no_exception(page) -> None:
    assert page.locator("[data-testid='stException']").count() == 0, page.locator(
        "[data-testid='stException']").first.inner_text()


# Every image of the page, including those the neuron card draws in its components' shadow roots.
IMAGES = ("Array.from(document.images).concat(...Array.from(document.querySelectorAll("
          "\"[data-testid='stBidiComponentIsolated']\")).map(h => h.shadowRoot ? "
          "Array.from(h.shadowRoot.querySelectorAll('img')) : []))")


def settle(page) -> None:
    """Wait until the script run is over (no 'Running' status widget) and every image has loaded."""
    page.wait_for_load_state("networkidle")
    page.locator("[data-testid='stStatusWidget']").wait_for(state="detached", timeout=T)
    try:
        page.wait_for_function(f"{IMAGES}.every(i => i.complete && i.naturalWidth > 0)", timeout=T)
    except Exception:  # say which images never loaded (a broken image is a real defect, not a flake)
        broken = page.evaluate(f"{IMAGES}.filter(i => !(i.complete && i.naturalWidth > 0))"
                               ".map(i => i.src.slice(0, 120))")
        page.screenshot(path=str(SHOTS / "settle_timeout.png"), full_page=True)
        raise AssertionError(f"images that never loaded: {broken}")


def wait_card(page, unit: int | None = None) -> int:
    heading = page.locator("h2", has_text=re.compile(r"^Unit \d+$")).first
    heading.wait_for(timeout=T)
    if unit is not None:
        page.locator("h2", has_text=f"Unit {unit}").first.wait_for(timeout=T)
    grids = f"[data-card-unit='{unit}'] img" if unit is not None else "[data-card-unit] img"
    page.locator(grids).first.wait_for(timeout=T)  # the dataset-example grids (inside the card's components)
    charts = f"[data-card-unit='{unit}'] svg[role='img']" if unit is not None else "[data-card-unit] svg[role='img']"
    page.locator(charts).first.wait_for(timeout=T)  # the histogram and zero-shot labels (SVG in the card's blocks)
    settle(page)
    return int(page.locator("h2", has_text=re.compile(r"^Unit \d+$")).first.inner_text().split()[-1])


def test_search_open_card_share_and_attack(server, browser, shots):
    base, log = server
    ctx = browser.new_context(viewport={"width": 1400, "height": 2000}, permissions=["clipboard-read", "clipboard-write"])
    page = ctx.new_page()
    page.goto(base + "/", timeout=T)
    # First use: the demo collection is indexed with a progress bar (unless it finished before we looked).
    indexing = page.get_by_text("Indexing the demo collection").first
    indexing.or_(page.locator("h2", has_text=re.compile(r"^Unit \d+$")).first).wait_for(timeout=T)
    if indexing.is_visible():
        page.screenshot(path=str(shots / "00_first_use_indexing.png"))
    first = wait_card(page)
    page.screenshot(path=str(shots / "01_lookup_default.png"), full_page=True)
    assert first == 0
    no_exception(page)
    # the sidebar says plainly what the demo model can and cannot show
    page.get_by_text("What the demo model can and cannot show").first.click()
    page.get_by_text(re.compile(r"Cannot show")).first.wait_for(timeout=T)
    attack_shown = json.loads((ASSETS / "demo" / "metrics.json").read_text())["typographic_attack"]["value"] >= 0.3
    phrase = "to the written class" if attack_shown else "typographic attacks are at chance"
    assert page.get_by_text(re.compile(phrase, re.I)).count() >= 1

    # search a concept
    page.locator("[data-testid='stSidebarNav'] a", has_text="Zero-shot neuron search").click()
    box = page.get_by_label("Concept", exact=True).and_(page.locator("input"))
    box.wait_for(timeout=T)
    box.fill("flower")
    box.press("Enter")
    links = page.locator("a[data-unit]", has_text="Open card")  # in the results block (a component)
    links.first.wait_for(timeout=T)
    page.locator("svg[aria-label='Matching neurons']").first.wait_for(timeout=T)
    settle(page)
    assert "q=flower" in href(page)
    assert links.count() >= 5
    page.screenshot(path=str(shots / "02_search_flower.png"), full_page=True)
    no_exception(page)

    # open the first neuron's card
    wanted = int(re.search(r"unit=(\d+)", links.first.get_attribute("href")).group(1))
    page.evaluate("window.__sameApp = true")  # gone if the click reloaded the page instead of switching in the app
    links.first.click()
    unit = wait_card(page, wanted)
    assert unit == wanted and f"unit={unit}" in href(page)
    assert page.evaluate("window.__sameApp === true")
    assert page.locator(f"[data-card-unit='{unit}'] img[src^='data:image/jpeg']").count() >= 12
    page.wait_for_function(f"{IMAGES}.filter(i => i.src.startsWith('data:image/jpeg')).length >= 12 && "
                           f"{IMAGES}.every(i => i.complete && i.naturalWidth > 0)", timeout=T)  # the tiles decode
    page.screenshot(path=str(shots / "03_card_from_search.png"), full_page=True)
    no_exception(page)
    shared = page.locator("[data-share]").last.inner_text().strip()  # the card's share link
    assert shared.startswith(base) and f"unit={unit}" in shared and "collection=demo" in shared
    copy = page.locator("button[data-copy]").last  # its copy button puts the link on the clipboard
    copy.click()
    page.locator("button[data-copy]", has_text="Copied").last.wait_for(timeout=T)
    assert page.evaluate("navigator.clipboard.readText()") == shared

    # the shared link in a fresh browser context shows the same view
    fresh = browser.new_context(viewport={"width": 1400, "height": 2000})
    other = fresh.new_page()
    other.goto(shared, timeout=T)
    assert wait_card(other, unit) == unit
    # the sidebar's pickers are there too (waited for: the check must not sample the instant between two runs): the
    # line of what is picked, and the popover whose select boxes show the link's layer
    other.locator("[data-testid='stSidebar']").get_by_text("units in this layer").first.wait_for(timeout=T)
    other.locator("[data-testid='stSidebar']").get_by_role("button", name="Model, collection, layer").click(timeout=T)
    layer_box = other.get_by_role("combobox", name="Layer")
    layer_box.wait_for(state="visible", timeout=T)
    assert layer_box.input_value() in urllib.parse.unquote(shared)
    other.keyboard.press("Escape")
    other.screenshot(path=str(shots / "04_shared_link_fresh_context.png"), full_page=True)
    no_exception(other)
    fresh.close()

    # a similar neuron (a chip under "Similar neurons by direction") opens its card
    pill = page.locator("[data-chips='cosine'] button.chip").first
    similar = int(pill.get_attribute("data-unit"))
    assert pill.inner_text().startswith(f"{similar} (")
    pill.click()
    assert wait_card(page, similar) == similar and f"unit={similar}" in href(page)
    no_exception(page)

    # a typographic attack
    page.locator("[data-testid='stSidebarNav'] a", has_text="Typographic attacks").click()
    run_attack(page)
    page.screenshot(path=str(shots / "05_typographic_attack.png"), full_page=True)
    no_exception(page)
    ctx.close()
    assert "Traceback" not in log.read_text()


def run_attack(page) -> None:
    """Attack the page's default picture with a typed word (the page re-runs the attack on Enter)."""
    page.get_by_role("heading", name="Typographic attacks").first.wait_for(timeout=T)
    page.get_by_text("Prediction flipped").first.wait_for(timeout=T)
    box = page.get_by_label("Attack text", exact=True).and_(page.locator("input"))
    box.fill("flag")
    box.press("Enter")
    page.wait_for_function("location.href.includes('text=flag')", timeout=T)
    page.get_by_text("Prediction flipped").first.wait_for(timeout=T)
    settle(page)
    assert page.get_by_text(re.compile(r"^after: ")).count() >= 1
    assert page.locator("svg[aria-label='Zero-shot class probabilities'] rect[data-bar='after']").count() >= 1


def test_bad_link_shows_message_not_traceback(server, browser, shots):
    base, _ = server
    ctx = browser.new_context(viewport={"width": 1400, "height": 2000})
    page = ctx.new_page()
    page.goto(base + "/neuron_lookup?unit=99999&collection=../../etc/passwd&model=nope", timeout=T)
    wait_card(page, 0)
    alerts = page.locator("[data-testid='stAlert']")
    text = " ".join(alerts.all_inner_texts())
    assert "out of range" in text and "not available" in text
    page.screenshot(path=str(shots / "06_bad_link.png"), full_page=True)
    no_exception(page)
    ctx.close()


def test_server_answers_the_front_end_files_from_memory(server):
    """`streamlit run dashboard.py` builds the server defined in dashboard.py: Streamlit's, with the front end's code
    files answered from memory (ui.static_cache), byte for byte what Streamlit ships, with its cache headers."""
    import urllib.request
    from pathlib import Path

    from streamlit.file_util import get_static_dir

    base, _ = server
    with urllib.request.urlopen(base + "/") as r:  # Streamlit's own page
        index = r.read().decode()
    scripts = re.findall(r'src="\./(static/js/[^"]+\.js)"', index)
    assert scripts, "index.html names its main script"
    for rel in scripts[:1] + re.findall(r'href="\./(static/js/[^"]+\.js)"', index)[:3]:
        with urllib.request.urlopen(f"{base}/{rel}") as r:
            body, headers = r.read(), r.headers
        assert body == (Path(get_static_dir()) / rel).read_bytes()
        assert headers["Cache-Control"] == "public, immutable, max-age=31536000"
        assert "javascript" in headers["Content-Type"] and headers["ETag"]
        assert "Accept-Ranges" not in headers  # answered by MemoryStatic, not Starlette's file response
    with urllib.request.urlopen(base + "/_stcore/health") as r:  # everything else is still Streamlit's
        assert r.status == 200

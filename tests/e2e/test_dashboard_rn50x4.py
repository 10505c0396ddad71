"""End-to-end at the article's scale: the real dashboard in headless Chromium on RN50x4 (2,560 units, 288 px) loaded
from a checkpoint file with random weights, over a small indexed collection (``tests/rn50x4.py``: both cached under
``artifacts/test-cache``, built on first use).

Every page renders without an exception; the neuron card shows 2,560 units and its dataset examples; feature
visualization (a few steps: ``CLIP_EXPLORER_FV_STEPS``) and top words (a small vocabulary: ``CLIP_EXPLORER_VOCAB_SIZE``)
are computed from the card; search, conditional probability, the typographic attack and the attack lab (4 pictures)
work; a shared link restores the view in a fresh browser. Screenshots go to test-artifacts/e2e/rn50x4_*.png.
"""
from __future__ import annotations

import re
import shutil
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests import rn50x4 as R
from tests.e2e.conftest import start_server, stop_server
from tests.e2e.test_dashboard_browser import IMAGES, href

pytestmark = [pytest.mark.e2e, pytest.mark.rn50x4]

T = 300_000  # ms: RN50x4 on a shared 2-core CPU (a card's first build, a render, the word scoring)
FV_STEPS = 3
VOCAB = 8
UNIT = 2559  # the last unit: 2,560 of them
PAGES = {  # url path -> title
    "": "Neuron lookup", "neuron_search": "Zero-shot neuron search",
    "conditional_probability": "Conditional probability",
    "typographic_attack": "Typographic attacks", "attack_lab": "Attack lab", "concept_codes": "Sparse concept codes",
    "interventions": "Interventions",
}


@pytest.fixture(scope="module")
def rn(tmp_path_factory):
    """(base URL, server log, model id): the dashboard on the cached RN50x4 checkpoint, with a fresh artifacts dir
    that holds a copy of the cached index (so feature visualizations and word scores are computed anew on every run)."""
    model = R.model_id()
    index = R.index()
    tmp = tmp_path_factory.mktemp("e2e_rn50x4")
    artifacts = tmp / "artifacts"
    shutil.copytree(index, artifacts / "indexes" / R.COLLECTION)
    log = tmp / "streamlit.log"
    proc, base = start_server(artifacts, log, model=model, env={
        "CLIP_EXPLORER_FV_STEPS": str(FV_STEPS), "CLIP_EXPLORER_VOCAB_SIZE": str(VOCAB),
        "CLIP_EXPLORER_COLLECTIONS": str(tmp / "collections")})
    yield base, log, model
    stop_server(proc)
    assert "Traceback" not in log.read_text(), log.read_text()[-4000:]


@pytest.fixture
def page(rn, browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 2000})
    yield ctx.new_page()
    ctx.close()


def url(rn, path: str = "", **params) -> str:
    base, _, model = rn
    return f"{base}/{path}?" + urlencode({"model": model, "collection": R.COLLECTION, **params})


BUSY = "[data-testid='stStatusWidget'], [data-testid='stSpinner'], [data-testid='stSkeleton']"


def settle(page) -> None:
    """No script run in progress (no status widget, spinner or placeholder, twice a second apart), every image
    loaded."""
    page.wait_for_load_state("networkidle")
    for _ in range(2):
        page.wait_for_function(f"document.querySelectorAll(\"{BUSY}\").length === 0", timeout=T)
        page.wait_for_timeout(1000)
    page.wait_for_function(f"{IMAGES}.every(i => i.complete && i.naturalWidth > 0)", timeout=T)


def healthy(page, shot: str) -> None:
    """No exception element and no "Something went wrong" box (``ui.error_box``'s message for a bug)."""
    page.screenshot(path=str(R.REPO_ROOT / "test-artifacts" / "e2e" / f"rn50x4_{shot}.png"), full_page=True)
    exc = page.locator("[data-testid='stException']")
    assert exc.count() == 0, exc.first.inner_text()
    bug = page.get_by_text("Something went wrong inside the app")
    assert bug.count() == 0, page.locator("[data-testid='stAlert']").all_inner_texts()


def wait_card(page, unit: int) -> None:
    page.locator("h2", has_text=f"Unit {unit}").first.wait_for(timeout=T)
    page.locator(f"[data-card-unit='{unit}'] img").first.wait_for(timeout=T)  # the dataset-example grids
    page.locator(f"[data-card-unit='{unit}'] svg[role='img']").first.wait_for(timeout=T)  # the card's SVG charts
    settle(page)


@pytest.fixture(scope="module")
def shots():
    (R.REPO_ROOT / "test-artifacts" / "e2e").mkdir(parents=True, exist_ok=True)


def test_card_with_feature_visualization_top_words_and_a_shared_link(rn, browser, page, shots):
    base, _, model = rn
    page.goto(url(rn, unit=UNIT), timeout=T)
    wait_card(page, UNIT)
    sidebar = page.locator("[data-testid='stSidebar']")
    assert sidebar.get_by_text(f"{R.UNITS} units in this layer").count() == 1
    assert page.get_by_label(f"Unit (0..{R.UNITS - 1})").count() == 1
    assert page.get_by_text(f"{R.ARTICLE_LAYER_PREFIX}act3@in:{UNIT}").count() >= 1  # the card's caption
    tiles = page.locator(f"[data-card-unit='{UNIT}'] img[src^='data:image/jpeg']")
    assert tiles.count() >= 12  # top 12 of the 16 pictures, the most negative, across the range
    healthy(page, "01_card")

    # feature visualization: one seed, few steps; no facet by default for a model other than the demo (the text
    # facet trains a probe on ~3,200 pictures first)
    page.get_by_role("button", name="Render options").click()
    seeds = page.get_by_label("Seeds")
    seeds.fill("1")
    seeds.press("Enter")
    facets = page.locator("[data-testid='stMultiSelect']").filter(has_text="Facets")
    assert facets.get_by_role("button", name=re.compile("delete|remove", re.I)).count() == 0
    page.keyboard.press("Escape")
    settle(page)
    page.get_by_role("button", name="Render feature visualizations").click()
    figures = page.locator(f"[data-card-unit='{UNIT}'] [data-figures] img[src^='data:image/png']")
    figures.first.wait_for(timeout=T)
    assert figures.count() == 1 and page.locator(f"[data-card-unit='{UNIT}'] [data-missing]").count() == 0
    assert page.get_by_text("channel · seed 0").count() >= 1

    # top words over a small vocabulary, scored from the card
    page.get_by_role("button", name=re.compile("Score the word vocabulary")).click()
    page.get_by_text("Top words").first.wait_for(timeout=T)
    page.get_by_text("Bottom words").first.wait_for(timeout=T)
    settle(page)
    healthy(page, "02_card_fv_words")

    # the share link, in a fresh browser context: same model, collection, layer and unit
    shared = page.locator("[data-share]").last.inner_text().strip()
    q = parse_qs(urlsplit(shared).query)
    assert shared.startswith(base) and q["unit"] == [str(UNIT)] and q["model"] == [model]
    assert q["collection"] == [R.COLLECTION] and q["layer"] == [f"{R.ARTICLE_LAYER_PREFIX}act3@in"]
    fresh = browser.new_context(viewport={"width": 1400, "height": 2000})
    other = fresh.new_page()
    other.goto(shared, timeout=T)
    wait_card(other, UNIT)
    other.locator(f"[data-card-unit='{UNIT}'] [data-figures] img[src^='data:image/png']").first.wait_for(timeout=T)
    assert other.get_by_text("Top words").count() >= 1  # cached on the server: shown at once
    assert parse_qs(urlsplit(href(other)).query) == q
    healthy(other, "03_shared_link")
    fresh.close()


def test_search_opens_a_card(rn, page, shots):
    page.goto(url(rn, "neuron_search", q="flower"), timeout=T)
    links = page.locator("a.open", has_text="Open card")  # in the results block (a component, drawn after the chart)
    links.first.wait_for(timeout=T)
    page.locator("svg[aria-label='Matching neurons']").first.wait_for(timeout=T)
    settle(page)
    assert links.count() == 8  # the page's default number of neurons
    units = [int(re.search(r"unit=(\d+)", links.nth(i).get_attribute("href")).group(1)) for i in range(8)]
    assert all(0 <= u < R.UNITS for u in units) and len(set(units)) == 8
    assert page.locator("[data-grid] img").count() >= 8 * 4 + 12  # 4 examples per neuron, 12 nearest images
    healthy(page, "04_search")
    links.first.click()
    wait_card(page, units[0])
    assert f"unit={units[0]}" in href(page) and "collection=" + R.COLLECTION in href(page)
    healthy(page, "05_card_from_search")


def test_conditional_probability(rn, page, shots):
    page.goto(url(rn, "conditional_probability", unit=7, buckets=4), timeout=T)
    page.get_by_text("Per category").first.wait_for(timeout=T)
    page.locator("svg[aria-label='Activation distribution per category']").first.wait_for(timeout=T)
    settle(page)
    assert page.get_by_text(re.compile("|".join(R.CLASSES))).count() >= 1
    assert "buckets=4" in href(page) and "unit=7" in href(page)
    bars = page.locator("svg[aria-label='Category fractions per activation bucket'] rect[data-unit]")
    shown = re.search(r"bucket=(\d+)", href(page)).group(1)
    other = next(b for b in bars.evaluate_all("els => els.map(e => e.dataset.unit)") if b != shown)
    bars.and_(page.locator(f"[data-unit='{other}']")).first.click(timeout=T)  # a click on a bar picks its bucket
    page.wait_for_function(f"location.href.includes('bucket={other}')", timeout=T)
    settle(page)
    healthy(page, "06_conditional_probability")


def test_typographic_attack(rn, page, shots):
    page.goto(url(rn, "typographic_attack", row=0, text="flag"), timeout=T)
    page.get_by_text("Prediction flipped").first.wait_for(timeout=T)
    page.get_by_text("Neurons that rose and fell most").first.wait_for(timeout=T)
    settle(page)
    assert page.get_by_text(re.compile(r"^after: ")).count() >= 1
    links = page.locator("a.open", has_text="Open card")  # risers and fallers (components, drawn after the charts)
    links.nth(11).wait_for(timeout=T)
    assert links.count() == 12
    healthy(page, "07_typographic_attack")


def test_attack_lab_on_four_pictures(rn, page, shots):
    page.goto(url(rn, "attack_lab", n=4, run=1, words="flag, fruit", styles="sticker"), timeout=T)
    page.get_by_text(re.compile(r"pictures classified correctly before the attack")).first.wait_for(timeout=T)
    settle(page)
    assert page.get_by_text(re.compile(r"of 4\b")).count() >= 1
    page.locator("[data-testid='stVegaLiteChart']").nth(1).wait_for(timeout=T)  # success rates, neuron changes
    page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=T)
    if page.get_by_text(re.compile(r"^0 of 4")).count() == 0:  # something attacked: its risers and fallers
        page.locator("a.open", has_text="Open card").first.wait_for(timeout=T)
    healthy(page, "08_attack_lab")


@pytest.mark.parametrize("path", ["concept_codes", "interventions"])
def test_the_other_pages_render(rn, page, shots, path):
    """The pages not driven above render with the link's model and collection (the others are checked by their
    tests)."""
    page.goto(url(rn, path), timeout=T)
    page.get_by_role("heading", name=PAGES[path]).first.wait_for(timeout=T)
    settle(page)
    sidebar = page.locator("[data-testid='stSidebar']")
    assert sidebar.get_by_text(f"{R.UNITS} units in this layer").count() == 1
    healthy(page, f"09_page_{path}")

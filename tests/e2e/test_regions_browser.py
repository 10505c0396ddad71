"""End-to-end: the region map and the card's links in headless Chromium, on the embedded demo model.

The server's artifacts dir is filled first through ``core`` (the demo collection indexed at the article's layer and
at a second layer, the layer's region responses computed), so the browser sees the map at once. It opens a shared
map link with two units, checks the map is drawn with its hover data, opens the neuron card, follows its link to
the map, and checks the card's "same concept elsewhere" list. Screenshots go to test-artifacts/e2e/.
"""
from __future__ import annotations

import pytest

from tests.e2e.conftest import start_server, stop_server
from tests.e2e.test_dashboard_browser import T, href, no_exception, settle

pytestmark = pytest.mark.e2e
SECOND = "visual.layer3.0.act3@in"


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    """(base URL, article layer) of a dashboard whose artifacts dir already holds what the map and card need."""
    import os

    tmp = tmp_path_factory.mktemp("e2e-regions")
    artifacts = tmp / "artifacts"
    old = os.environ.get("CLIP_EXPLORER_ARTIFACTS")
    os.environ["CLIP_EXPLORER_ARTIFACTS"] = str(artifacts)
    try:
        from core.analyses.regions import layer_regions
        from core.model.loading import load_model
        from core.pipeline.demo import ensure_demo_index, materialize_corpus
        from core.pipeline.extract import run_extraction

        loaded = load_model("demo")
        art = ensure_demo_index(loaded=loaded, artifacts_dir=artifacts)
        corpus = materialize_corpus(artifacts / "collections" / "demo")
        run_extraction(loaded, corpus / "collection.csv", artifacts / "indexes" / "demo--layer3", layer=SECOND,
                       workers=0)
        layer_regions(loaded, art.layer)
    finally:
        if old is None:
            os.environ.pop("CLIP_EXPLORER_ARTIFACTS", None)
        else:
            os.environ["CLIP_EXPLORER_ARTIFACTS"] = old
    proc, base = start_server(artifacts, tmp / "streamlit.log")
    yield base, art.layer
    stop_server(proc)


def test_region_map_link_card_and_same_concept_elsewhere(filled, browser, shots):
    base, layer = filled
    ctx = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = ctx.new_page()
    page.goto(base + "/", timeout=T)  # the app's front door first: a fresh server resolves pages once it has run
    settle(page)
    page.goto(f"{base}/region_maps?model=demo&collection=demo&units=3,10", timeout=T)
    page.get_by_text("Region maps").first.wait_for(timeout=T)
    settle(page)
    no_exception(page)
    chart = page.locator("[data-testid='stVegaLiteChart']").first
    chart.wait_for(timeout=T)
    chart.locator("canvas, svg").first.wait_for(timeout=T)
    assert "units=3%2C10" in href(page) or "units=3,10" in href(page)
    page.screenshot(path=str(shots / "region_map.png"), full_page=True)
    box = chart.bounding_box()
    assert box and box["width"] > 500 and box["height"] > 250  # a world map, not an empty element
    # the card links to the unit's map, and lists the unit's best matches at the collection's other layer
    page.goto(f"{base}/?model=demo&collection=demo&unit=3", timeout=T)
    page.get_by_text("Unit 3").first.wait_for(timeout=T)
    settle(page)
    no_exception(page)
    page.get_by_text("The same concept elsewhere").first.wait_for(timeout=T)
    assert page.get_by_text(SECOND).count() >= 1
    page.screenshot(path=str(shots / "card_elsewhere.png"), full_page=True)
    page.get_by_text("Region map of unit 3").first.click()
    page.get_by_text("Region maps").first.wait_for(timeout=T)
    settle(page)
    no_exception(page)
    assert "region_maps" in href(page) and "units=3" in href(page)
    ctx.close()

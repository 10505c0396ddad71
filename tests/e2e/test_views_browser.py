"""End-to-end (headless Chromium, the demo model): the layer grid (a tile opens its card), the card's 48
argmax-centred examples with a zoom and its JSON download, the typographic attack's downloads (the attacked picture
as a PNG with its provenance, the attack as JSON), the article's cited-units page from a shared link.
Screenshots go to test-artifacts/e2e/."""
from __future__ import annotations

import json
import re

import pytest

from core.featurevis.png import read_provenance
from tests.e2e.test_dashboard_browser import T, href, no_exception, settle, wait_card

pytestmark = pytest.mark.e2e


def test_layer_grid_card_views_and_article_units(server, browser, shots):
    base, _log = server
    ctx = browser.new_context(viewport={"width": 1400, "height": 1800}, accept_downloads=True)
    page = ctx.new_page()
    page.goto(base + "/layer_grid?per=24&zoom=2", timeout=T)
    page.locator("h1", has_text="Layer grid").first.wait_for(timeout=T)
    try:  # first use indexes the demo collection first
        page.locator("[data-tile='5'] img").first.wait_for(timeout=6 * T)
    except Exception:
        page.screenshot(path=str(shots / "20_layer_grid_timeout.png"), full_page=True)
        raise
    settle(page)
    assert page.locator("[data-tile]").count() == 24
    page.screenshot(path=str(shots / "20_layer_grid.png"), full_page=True)
    no_exception(page)

    page.locator("[data-tile='5']").first.click()  # one click: the unit's card
    assert wait_card(page, 5) == 5
    assert "unit=5" in href(page)
    page.goto(base + "/?unit=5&more=1&zoom=3", timeout=T)  # the card's shared link, 48 examples open
    assert wait_card(page, 5) == 5
    try:
        page.wait_for_function("document.querySelectorAll(\"[data-testid='stBidiComponentIsolated']\").length > 0 && "
                               "Array.from(document.querySelectorAll(\"[data-testid='stBidiComponentIsolated']\"))"
                               ".some(h => h.shadowRoot && h.shadowRoot.querySelectorAll(\"[data-tile] img\").length"
                               " >= 48)", timeout=T)
    except Exception:
        page.screenshot(path=str(shots / "21_card_more_examples_timeout.png"), full_page=True)
        raise
    settle(page)
    assert "more=1" in href(page) and "zoom=3" in href(page)
    page.locator("[data-tile='5'] img").nth(20).scroll_into_view_if_needed(timeout=T)  # the 48 crops, in view
    page.screenshot(path=str(shots / "21_card_more_examples.png"))
    with page.expect_download(timeout=T) as dl:
        page.get_by_text("Download this card (JSON)").first.click()
    card = json.loads(open(dl.value.path(), encoding="utf-8").read())
    assert card["unit"] == 5 and card["model"] == "demo" and len(card["top_examples"]) == 12
    no_exception(page)

    page.goto(base + "/typographic_attack", timeout=T)  # the demo's default attack: its downloads
    page.get_by_text("Attacked picture (PNG)").first.wait_for(timeout=T)
    settle(page)
    with page.expect_download(timeout=T) as dl:
        page.get_by_text("Attack (JSON)").first.click()
    attack = json.loads(open(dl.value.path(), encoding="utf-8").read())
    assert attack["model"] == "demo" and attack["prediction"]["flipped"] and len(attack["probabilities"]) == 16
    with page.expect_download(timeout=T) as dl:
        page.get_by_text("Attacked picture (PNG)").first.click()
    assert dl.value.suggested_filename.endswith(".png")
    info = read_provenance(open(dl.value.path(), "rb").read())
    assert info["fingerprint"] == attack["fingerprint"] and info["attack_text"] == attack["attack"]["text"]
    no_exception(page)

    fresh = browser.new_context(viewport={"width": 1400, "height": 1400}).new_page()  # a shared link
    fresh.goto(base + "/article_units?q=spider", timeout=T)
    fresh.locator("h1", has_text="The article's units").first.wait_for(timeout=T)
    fresh.get_by_text(re.compile(r"\d+ of 161 units match")).first.wait_for(timeout=T)
    settle(fresh)
    assert fresh.get_by_label("Filter").input_value() == "spider"
    fresh.screenshot(path=str(shots / "22_article_units.png"), full_page=True)
    no_exception(fresh)

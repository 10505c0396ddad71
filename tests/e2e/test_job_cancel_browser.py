"""End-to-end: the feature-visualization Cancel button stops a running render in the real browser (the progress is
a fragment redrawn every second, so the click is handled while the render goes on); the sidebar's background
indexing of a folder and of an uploaded zip."""
from __future__ import annotations

import re
import time

import pytest

from tests.e2e.test_dashboard_browser import T, href, no_exception, settle
from tests.e2e.test_hostile_links_browser import small_server  # noqa: F401 - the fixture

pytestmark = pytest.mark.e2e


def test_cancel_stops_a_render(small_server, browser, shots):  # noqa: F811
    ctx = browser.new_context(viewport={"width": 1400, "height": 2000})
    page = ctx.new_page()
    page.goto(small_server + "/?unit=3", timeout=T)
    page.get_by_role("button", name="Render feature visualizations").click(timeout=T)
    cancel = page.get_by_role("button", name="Cancel")
    cancel.wait_for(timeout=T)
    page.get_by_text("Rendering (optimisation steps)").first.wait_for(timeout=T)
    t0 = time.time()
    cancel.click()
    page.get_by_text("Rendering cancelled").first.wait_for(timeout=15_000)
    assert time.time() - t0 < 15
    page.get_by_role("button", name="Render feature visualizations").wait_for(timeout=10_000)
    page.screenshot(path=str(shots / "cancel_render.png"), full_page=True)
    no_exception(page)
    ctx.close()


def test_index_a_folder_from_the_sidebar_shows_progress_then_the_collection(small_server, browser, shots):  # noqa: F811
    """The sidebar's indexing job: its progress never blocks the page, and the page picks the result up."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 2000})
    page = ctx.new_page()
    page.goto(small_server + "/", timeout=T)
    sidebar = page.locator("[data-testid='stSidebar']")
    sidebar.get_by_text("Index a folder").click(timeout=T)
    sidebar.get_by_role("button", name="Index it").click(timeout=T)
    page.get_by_role("heading", name="Neuron lookup").wait_for(timeout=T)  # the page is drawn meanwhile
    deadline = time.time() + 90
    while True:  # the job ends, the progress fragment reruns the page, the picker lists the new collection
        sidebar.get_by_role("button", name="Model, collection, layer").click()  # the pickers' popover
        page.get_by_role("combobox", name="Collection").click(timeout=T)
        found = page.get_by_role("option").filter(has_text="shapes--demo").count()
        page.keyboard.press("Escape")
        page.keyboard.press("Escape")
        if found or time.time() > deadline:
            break
        time.sleep(2)
    page.screenshot(path=str(shots / "index_sidebar.png"), full_page=True)
    assert found, "the indexed folder never showed up in the collection picker"
    no_exception(page)
    ctx.close()


def test_upload_a_zip_in_the_sidebar_then_its_collection_is_selected(small_server, browser, shots, tmp_path):  # noqa: F811
    """A zip of demo-corpus pictures (two labelled sub-folders) uploaded in "Index a folder": indexed in the
    background, then the sidebar says so and the collection picker shows the new collection."""
    from tests.app.test_index_upload import corpus_zip

    archive = tmp_path / "clip art.zip"
    archive.write_bytes(corpus_zip())
    ctx = browser.new_context(viewport={"width": 1400, "height": 1500})
    page = ctx.new_page()
    page.goto(small_server + "/", timeout=T)
    sidebar = page.locator("[data-testid='stSidebar']")
    sidebar.get_by_text("Index a folder").click(timeout=T)
    sidebar.locator("input[type='file']").set_input_files(archive, timeout=T)
    sidebar.get_by_text("clip art.zip").wait_for(timeout=T)
    button = sidebar.get_by_role("button", name="Upload and index")
    deadline = time.time() + 30
    while not button.is_enabled() and time.time() < deadline:  # enabled by the rerun that sees the file
        time.sleep(0.2)
    page.screenshot(path=str(shots / "index_upload_form.png"))
    button.click(timeout=T)
    try:
        sidebar.get_by_text(re.compile(r"Indexed 12 images from uploads/clip-art at layer")).wait_for(timeout=T)
    except Exception:
        page.screenshot(path=str(shots / "index_upload_timeout.png"), full_page=True)
        raise
    settle(page)
    sidebar.get_by_role("button", name="Model, collection, layer").click()  # the pickers' popover
    picked = page.get_by_role("combobox", name="Collection").input_value(timeout=T)
    assert picked == "uploads-clip-art--demo (12 images, demo)", picked
    page.keyboard.press("Escape")
    assert "collection=uploads-clip-art--demo" in href(page)
    page.screenshot(path=str(shots / "index_upload.png"))
    no_exception(page)
    ctx.close()

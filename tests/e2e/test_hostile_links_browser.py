"""End-to-end: links whose values are markdown (an image on another host, a "log in again" link) open in headless
Chromium without the browser contacting any host but the dashboard's, and without an outside link in the app's
alerts. Every request of the page is routed through the test: one to another host is recorded and refused."""
from __future__ import annotations

from urllib.parse import quote, urlsplit

import pytest

from tests.conftest import make_image_folder
from tests.e2e.conftest import start_server, stop_server
from tests.e2e.test_dashboard_browser import T, no_exception, settle

pytestmark = pytest.mark.e2e

IMAGE = "![t](http://127.0.0.1:9/track.png)"
LINK = "[Log in again](http://ev.il/x)"
# Streamlit's own front end fetches the navigation's Material icons from Google's font server (not a visitor's value;
# refused here like any other outside request, and left out of the check).
STREAMLIT_ICONS = "https://fonts.gstatic.com/s/i/short-term/release/materialsymbolsrounded/"
VIEWS = [f"/?collection={quote(IMAGE)}&layer={quote(LINK)}",
         f"/neuron_search?collection={quote(LINK)}&q={quote(IMAGE)}&top=%C2%B2",
         f"/typographic_attack?collection={quote(IMAGE)}&text={quote(LINK)}&color={quote('<img src=x>')}"]


@pytest.fixture(scope="module")
def small_server(tmp_path_factory):
    """A dashboard on the demo model whose artifacts hold a small indexed collection (no first-use indexing of the
    whole demo corpus, which takes minutes on a busy machine)."""
    from core.model.loading import load_model
    from core.pipeline.extract import run_extraction

    tmp = tmp_path_factory.mktemp("e2e-hostile")
    folder = make_image_folder(tmp / "artifacts" / "collections" / "shapes", n_per_class=3, size=64)
    run_extraction(load_model("demo"), folder, tmp / "artifacts" / "indexes" / "shapes", workers=0, topk=4)
    proc, base = start_server(tmp / "artifacts", tmp / "streamlit.log")
    yield base
    stop_server(proc)


def test_markdown_in_links_never_reaches_another_host(small_server, browser, shots):
    base = small_server
    own = urlsplit(base).netloc
    outside: list[str] = []
    ctx = browser.new_context(viewport={"width": 1400, "height": 2000})

    def guard(route):
        if urlsplit(route.request.url).netloc == own or route.request.url.startswith("data:"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    ctx.route("**/*", guard)
    page = ctx.new_page()
    for i, view in enumerate(VIEWS):
        page.goto(base + view, timeout=T)
        alerts = page.locator("[data-testid='stAlert']")
        try:
            page.get_by_text("is not available here").first.wait_for(timeout=T)
        except Exception:
            page.screenshot(path=str(shots / f"hostile_{i}_timeout.png"), full_page=True)
            raise
        settle(page)
        page.screenshot(path=str(shots / f"hostile_{i}.png"), full_page=True)
        no_exception(page)
        text = " ".join(alerts.all_inner_texts()).replace("\u2060", "")  # the word joiners that stop bare links
        assert IMAGE in text or LINK in text, text  # the value is shown, as text
        hrefs = alerts.locator("a[href]").evaluate_all("els => els.map(a => a.href)")
        assert [h for h in hrefs if urlsplit(h).netloc != own] == [], (view, hrefs)
        assert alerts.locator("img").count() == 0, view
    assert [u for u in outside if not u.startswith(STREAMLIT_ICONS)] == [], outside
    ctx.close()

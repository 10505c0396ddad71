"""A self-hosted tool asks no other host for anything: every request a visit makes goes to the dashboard's own
server (no web fonts, icons or favicons from a CDN). Every request is routed through the test: any other host is
recorded and refused, and the test fails on it. Screenshots go to test-artifacts/e2e/."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import REPO, SHOTS, start_server, stop_server
from tests.e2e.test_dashboard_browser import T, no_exception, settle

pytestmark = pytest.mark.e2e

PAGES = {"": "Neuron lookup", "neuron_search": "Zero-shot neuron search",
         "conditional_probability": "Conditional probability", "typographic_attack": "Typographic attacks",
         "attack_lab": "Attack lab", "interventions": "Interventions", "concept_codes": "Sparse concept codes"}


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    """The dashboard as shipped (the demo model) on the demo collection the app tests index (kept between runs
    in test-artifacts/demo-index/)."""
    from core.pipeline.demo import ensure_demo_index

    artifacts = REPO / "test-artifacts" / "demo-index"
    ensure_demo_index(artifacts_dir=artifacts)
    proc, base = start_server(artifacts, tmp_path_factory.mktemp("outside") / "streamlit.log")
    yield base
    stop_server(proc)


def test_no_request_leaves_the_server(demo_server, browser, shots):
    base, outside = demo_server, []
    own = urlsplit(base).netloc
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()

    def route(r):
        url = r.request.url
        if urlsplit(url).scheme in ("http", "https", "ws", "wss") and urlsplit(url).netloc != own:
            outside.append(url)
            return r.abort()
        return r.continue_()

    context.route("**/*", route)
    for path, title in PAGES.items():  # each page as a fresh load (a shared link), then the switch back
        page.goto(f"{base}/{path}", timeout=T)
        page.get_by_role("heading", name=title).first.wait_for(timeout=T)
        settle(page)
        no_exception(page)
    page.screenshot(path=str(SHOTS / "no_outside_requests.png"), full_page=True)
    page.get_by_role("link", name="Neuron lookup").first.click()  # a page switch inside the app
    page.get_by_role("heading", name="Neuron lookup").first.wait_for(timeout=T)
    settle(page)
    context.close()
    assert not outside, f"{len(outside)} requests left the server: {sorted({urlsplit(u).netloc for u in outside})} " \
                        f"e.g. {outside[:3]}"

"""AppTest of the sparse-concept-codes page (tiny real model, no mocks)."""
from __future__ import annotations

import html
import re

from tests.app.conftest import app, html_blocks, svg_bars


def _card_links(at) -> list[str]:
    """The "Open card" links of the page's neuron list (its addresses, unescaped)."""
    return [html.unescape(h) for h in re.findall(r'<a class="open" href="([^"]+)"[^>]*>Open card</a>',
                                                  html_blocks(at).get("results", ""))]


def test_concept_code_page_fits_a_code_and_links_neuron_cards(app_env):
    at = app("pages/concept_codes.py").run()
    assert not at.exception and at.title[0].value == "Sparse concept codes"
    assert any("Type a concept" in i.value for i in at.info)
    at.text_input(key="cc_concept").set_value("happy").run()
    assert not at.exception and not at.error
    assert at.query_params["concept"] == "happy" and at.query_params["kind"] == "emotion"
    eq = next(m.value for m in at.markdown if m.value.startswith("**happy**"))
    assert "unit" in eq
    bars = svg_bars(html_blocks(at)["cc_chart"])  # the code's bars (SVG): one per unit shown, largest first = 1
    assert bars and bars[0]["value"] == 1.0 and all(0 < b["value"] <= 1 for b in bars)
    assert not at.get("vega_lite_chart") and not at.get("arrow_vega_lite_chart")
    links = _card_links(at)
    assert links and all(href.startswith("lookup?") and "unit=" in href for href in links)
    at.slider(key="cc_alpha").set_value(90).run()
    few = len(_card_links(at))
    at.slider(key="cc_alpha").set_value(5).run()
    assert len(_card_links(at)) >= few
    assert at.query_params["alpha"] == "5"


def test_concept_code_page_from_url_and_atlas(app_env):
    at = app("pages/concept_codes.py")
    at.query_params.update({"concept": "boat", "kind": "plain", "top": "3"})
    at.run()
    assert at.text_input(key="cc_concept").value == "boat" and at.radio(key="cc_kind").value == "plain"
    assert 0 < len(_card_links(at)) <= 3
    at.text_area(key="cc_atlas_concepts").set_value("happy, sad, angry, calm, scared")
    at.number_input(key="cc_atlas_k").set_value(2)
    at.toggle(key="cc_atlas_on").set_value(True).run()
    assert not at.exception and not at.error
    assert len(at.get("vega_lite_chart")) == 2  # loadings heat map + factor plane (k = 2); the code is SVG
    assert "cc_chart" in html_blocks(at)
    assert any("reconstruction error" in c.value for c in at.caption)


def test_concept_code_page_bad_input_is_a_message(app_env):
    at = app("pages/concept_codes.py").run()
    at.text_area(key="cc_atlas_concepts").set_value("lonely")
    at.toggle(key="cc_atlas_on").set_value(True).run()
    assert not at.exception and any("at least 2" in i.value for i in at.info)
    at = app("pages/concept_codes.py")
    at.query_params.update({"alpha": "500"})
    at.run()
    assert not at.exception and at.warning


def test_atlas_with_more_factors_draws_the_heat_map_only(app_env):
    at = app("pages/concept_codes.py").run()
    at.text_area(key="cc_atlas_concepts").set_value("happy, sad, angry, calm, scared, bored")
    at.number_input(key="cc_atlas_k").set_value(3)
    at.toggle(key="cc_atlas_on").set_value(True).run()
    assert not at.exception and not at.error
    assert len(at.get("vega_lite_chart")) == 1  # no concept typed: only the atlas heat map
    assert len(at.dataframe) == 1 and set(at.dataframe[0].value["factor"]) == {"factor 1", "factor 2", "factor 3"}

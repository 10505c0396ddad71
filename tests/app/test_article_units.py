"""AppTest: the article's units page (filter bound to the URL, CSV) and the article's name on the card."""
from __future__ import annotations

import pytest

from tests.app.conftest import app, html_blocks, query_param, trigger


def _rows(at) -> list[tuple[int, str]]:
    """The table's rows: (unit, its card link's address)."""
    import html
    import re

    return [(int(u), html.unescape(h)) for u, h in re.findall(
        r'<tr data-row="(\d+)">.*?<a class="open" href="([^"]*)" data-unit="\1">', html_blocks(at)["au_table"])]


def test_cited_units_page_lists_161_and_filters_from_the_url(app_env):
    at = app("pages/article_units.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "The article's units"
    assert any("not an RN50x4" in w.value for w in at.warning)  # the tiny model is not the article's
    assert len(_rows(at)) == 161 and not at.dataframe  # an HTML table, not a data grid
    at.text_input(key="au_query").input("minecraft").run()
    rows = _rows(at)
    assert [u for u, _ in rows] == [3] and rows[0][1].startswith("./?") and "unit=3" in rows[0][1]
    assert "Minecraft" in html_blocks(at)["au_table"] and "in the article" in html_blocks(at)["au_table"]
    assert query_param(at, "q") == "minecraft"
    fresh = app("pages/article_units.py")
    fresh.query_params["q"] = "Fig 7"
    fresh.run()
    assert fresh.text_input(key="au_query").value == "Fig 7" and 0 < len(_rows(fresh)) < 161
    assert fresh.get("download_button")


def test_a_click_on_a_units_card_link_opens_its_card_in_the_app(app_env):
    at = app("dashboard.py").run()
    at.switch_page("pages/article_units.py").run()
    at.text_input(key="au_query").input("minecraft").run()
    (unit, _), = _rows(at)
    trigger(at, "au_table", "open", unit)  # what a plain click on the row's "open card" link sends
    assert not at.exception and at.header[0].value == f"Unit {unit}" and at.query_params["unit"] == str(unit)


@pytest.mark.parametrize("kind, caveat", [("exact", False), ("architecture", True)])
def test_card_shows_the_article_name_on_its_model(app_env, tiny_rn, monkeypatch, kind, caveat):
    from core.analyses import article_units
    from core.model.hooks import article_layer

    layer = article_layer(tiny_rn)
    monkeypatch.setattr(article_units, "article_match",
                        lambda loaded: article_units.ArticleMatch(kind, "test weights are not OpenAI's", layer))
    at = app("pages/neuron_lookup.py")
    at.query_params["unit"] = "3"
    at.run()
    assert not at.exception, at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "The article's name: Minecraft" in text and "distill.pub/2021/multimodal-neurons" in text
    assert any("architecture match only" in c.value for c in at.caption) == caveat
    at.number_input(key="unit").set_value(2).run()
    assert not any("The article's name" in m.value for m in at.markdown)
    assert any("cites no unit 2" in c.value for c in at.caption)

"""The neuron card's feature-visualization strip and rastered-word lists (AppTest, tiny real model)."""
from __future__ import annotations

import pytest

from tests.app.conftest import app, html_blocks

SMALL = ("cat", "dog", "pizza", "house", "tree", "spider", "yellow", "france", "music", "water", "king", "queen")


@pytest.fixture
def quick(monkeypatch):
    """Short renders and a small vocabulary so the background jobs finish in seconds."""
    from core.analyses import words
    from core.featurevis import strip

    monkeypatch.setattr(strip, "STRIP_STEPS", 6)
    monkeypatch.setattr(words, "_vocabulary", lambda: SMALL)


def _strip(at) -> str:
    return html_blocks(at)["fv_strip"]


def _table(html: str, title: str) -> list[list[str]]:
    """Header and rows of a ``ui.html.table_html`` table."""
    import html as h
    import re

    body = html.split(f'data-table="{title}"', 1)[1].split("</table>", 1)[0]
    head = [h.unescape(c) for c in re.findall(r"<th(?: [^>]*)?>(.*?)</th>", body)]
    rows = [[h.unescape(c) for c in re.findall(r"<td(?: [^>]*)?>(.*?)</td>", r)] for r in re.findall(r"<tr>(.*?)</tr>", body)]
    return [head] + [r for r in rows if r]


def test_card_renders_strip_on_demand_then_from_cache(app_env, quick):
    at = app("pages/neuron_lookup.py").run()
    assert not at.exception
    assert "<h3" in _strip(at) and "Feature visualization" in _strip(at)
    at.number_input(key="fv_seeds").set_value(1)  # the widgets of the "Render options" popover
    at.multiselect(key="fv_facets").set_value([])
    at.run()
    assert "channel · seed 0" in _strip(at) and _strip(at).count("not rendered yet") == 1
    at.button(key="fv_render").click()
    at.run()  # starts the job, watches its progress, reruns when done
    at.run()
    assert not at.exception
    strip = _strip(at)
    assert "not rendered yet" not in strip and "channel(visual.layer4.0.act3@in:0)" in strip
    assert strip.count("data:image/png;base64,") == 1
    assert not [b for b in at.button if b.key == "fv_render"]  # everything cached: no render button
    assert [b for b in at.get("download_button") if b.proto.label == "PNG"]  # the pictures, with provenance
    fresh = app("pages/neuron_lookup.py").run()  # a new session sees the cached picture at once
    fresh.number_input(key="fv_seeds").set_value(1)
    fresh.multiselect(key="fv_facets").set_value([])
    fresh.run()
    assert "channel(visual.layer4.0.act3@in:0)" in _strip(fresh)


def test_card_scores_words_and_shows_ranked_tables(app_env, quick):
    at = app("pages/neuron_lookup.py").run()
    at.button(key="words_score").click()
    at.run()
    at.run()
    assert not at.exception
    words_html = html_blocks(at)["fv_words"]
    assert words_html.count("Top rastered words") == 1
    top, bottom = _table(words_html, "Top words"), _table(words_html, "Bottom words")
    assert top[0] == ["rank", "word", "activation (σ)", "vs vocabulary (σ)"] and len(top) > 2  # units named
    top_acts, bottom_acts = [float(r[2]) for r in top[1:]], [float(r[2]) for r in bottom[1:]]
    assert top_acts == sorted(top_acts, reverse=True) and bottom_acts == sorted(bottom_acts)
    assert {r[1] for r in top[1:]} <= set(SMALL)
    assert "in standard deviations from zero (σ) like the pictures above" in words_html

"""The neuron card's feature-visualization strip and rastered-word lists (AppTest, tiny real model)."""
from __future__ import annotations

import pytest

from tests.app.conftest import app

SMALL = ("cat", "dog", "pizza", "house", "tree", "spider", "yellow", "france", "music", "water", "king", "queen")


@pytest.fixture
def quick(monkeypatch):
    """Short renders and a small vocabulary so the background jobs finish in seconds."""
    from core import words
    from core.featurevis import strip

    monkeypatch.setattr(strip, "STRIP_STEPS", 6)
    monkeypatch.setattr(words, "_vocabulary", lambda: SMALL)


def _captions(at) -> str:
    return " ".join(str(c.value) for c in at.caption)


def test_card_renders_strip_on_demand_then_from_cache(app_env, quick):
    at = app("pages/neuron_lookup.py").run()
    assert not at.exception
    assert "Feature visualization" in [s.value for s in at.subheader]
    at.number_input(key="fv_seeds").set_value(1)
    at.multiselect(key="fv_facets").set_value([])
    at.run()
    assert "channel · seed 0: not rendered yet" in _captions(at)
    at.button(key="fv_render").click()
    at.run()  # starts the job, watches its progress, reruns when done
    at.run()
    assert not at.exception
    caps = _captions(at)
    assert "not rendered yet" not in caps and "channel(visual.layer4.0.act3@in:0)" in caps
    assert not [b for b in at.button if b.key == "fv_render"]  # everything cached: no render button
    fresh = app("pages/neuron_lookup.py").run()  # a new session sees the cached picture at once
    fresh.number_input(key="fv_seeds").set_value(1)
    fresh.multiselect(key="fv_facets").set_value([])
    fresh.run()
    assert "channel(visual.layer4.0.act3@in:0)" in _captions(fresh)


def test_card_scores_words_and_shows_ranked_tables(app_env, quick):
    at = app("pages/neuron_lookup.py").run()
    at.button(key="words_score").click()
    at.run()
    at.run()
    assert not at.exception
    assert [s.value for s in at.subheader].count("Top rastered words") == 1
    frames = at.dataframe
    assert len(frames) >= 2
    top, bottom = frames[-2].value, frames[-1].value
    assert list(top.columns) == ["rank", "word", "activation", "score"]
    assert top["activation"].is_monotonic_decreasing and bottom["activation"].is_monotonic_increasing
    assert set(top["word"]) <= set(SMALL)

"""The neuron card's notes say what was computed when a deployment shortens the work for a big model on a CPU
(``CLIP_EXPLORER_FV_STEPS``, ``CLIP_EXPLORER_VOCAB_SIZE``; AppTest, tiny real model)."""
from __future__ import annotations

import re

from tests.app.conftest import app, html_blocks


def test_card_notes_follow_the_configured_steps_and_vocabulary(app_env, monkeypatch):
    monkeypatch.setenv("CLIP_EXPLORER_FV_STEPS", "6")
    monkeypatch.setenv("CLIP_EXPLORER_VOCAB_SIZE", "12")
    at = app("pages/neuron_lookup.py").run()
    assert not at.exception
    blocks = html_blocks(at)
    assert re.search(r"\b6 steps", blocks["fv_strip"]) and "256 steps" not in blocks["fv_strip"]
    assert "12 most common English words" in blocks["fv_words"] and "12,000" not in blocks["fv_words"]


def test_a_big_model_renders_without_the_text_facet_by_default(app_env):
    """The text facet first trains a probe on the demo corpus (long for a big model on a CPU): on by default for the
    demo model only."""
    at = app("pages/neuron_lookup.py").run()
    assert not at.exception and at.session_state["fv_facets"] == []

"""The neuron card's notes say what was computed when a deployment shortens the work for a big model on a CPU
(``CLIP_EXPLORER_FV_STEPS``, ``CLIP_EXPLORER_VOCAB_SIZE``; AppTest, tiny real model)."""
from __future__ import annotations

import re

import pytest

from tests.app.conftest import app, html_blocks


@pytest.mark.xfail(strict=True, reason=(
    "core/ui.py feature_visualization_card hard-codes both notes: the strip's note prints strip.STRIP_STEPS (256) "
    "instead of strip.strip_steps(), and the words heading says 'The 12,000 most common English words' instead of "
    "f'The {len(words.load_vocabulary()):,} most common English words'. ui.py is being moved into ui/ by the lead."))
def test_card_notes_follow_the_configured_steps_and_vocabulary(app_env, monkeypatch):
    monkeypatch.setenv("CLIP_EXPLORER_FV_STEPS", "6")
    monkeypatch.setenv("CLIP_EXPLORER_VOCAB_SIZE", "12")
    at = app("pages/neuron_lookup.py").run()
    assert not at.exception
    blocks = html_blocks(at)
    assert re.search(r"\b6 steps", blocks["fv_strip"]) and "256 steps" not in blocks["fv_strip"]
    assert "12 most common English words" in blocks["fv_words"] and "12,000" not in blocks["fv_words"]

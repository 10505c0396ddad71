"""Settings that let a CPU deployment (or a test) use the article's model: a smaller word vocabulary and fewer
feature-visualization steps on the neuron card."""
from __future__ import annotations

import pytest

from core.analyses import words
from core.config import get_settings
from core.errors import BadInputError
from core.featurevis import strip


def test_vocab_size_cuts_the_vocabulary_to_its_most_frequent_words(monkeypatch):
    full = words.load_vocabulary()
    monkeypatch.setenv("CLIP_EXPLORER_VOCAB_SIZE", "40")
    assert words.load_vocabulary() == full[:40]
    monkeypatch.setenv("CLIP_EXPLORER_VOCAB_SIZE", "")
    assert words.load_vocabulary() == full


def test_fv_steps_sets_the_strip_steps(monkeypatch):
    monkeypatch.delenv("CLIP_EXPLORER_FV_STEPS", raising=False)
    assert strip.strip_steps() == strip.STRIP_STEPS == 256
    monkeypatch.setenv("CLIP_EXPLORER_FV_STEPS", "3")
    assert strip.strip_steps() == 3


@pytest.mark.parametrize("name", ["CLIP_EXPLORER_VOCAB_SIZE", "CLIP_EXPLORER_FV_STEPS"])
@pytest.mark.parametrize("raw", ["0", "-3", "many"])
def test_bad_counts_are_refused_with_the_variable_named(monkeypatch, name, raw):
    monkeypatch.setenv(name, raw)
    with pytest.raises(BadInputError, match=name):
        get_settings()


def test_scored_cache_is_per_vocabulary(tiny_rn, tmp_path, monkeypatch, one_torch_thread):
    """A cut vocabulary is cached apart from the full one: the card never shows the small table as the full one."""
    monkeypatch.setenv("CLIP_EXPLORER_ARTIFACTS", str(tmp_path))
    monkeypatch.setenv("CLIP_EXPLORER_VOCAB_SIZE", "6")
    layer = "visual.layer4.0.act3@in"
    assert not words.is_scored(tiny_rn, layer)
    table = words.word_activations(tiny_rn, layer)
    assert table.words == tuple(words.load_vocabulary()) and len(table.words) == 6
    assert words.is_scored(tiny_rn, layer) and words.cached_word_activations(tiny_rn, layer).acts.shape[0] == 6
    monkeypatch.setenv("CLIP_EXPLORER_VOCAB_SIZE", "7")
    assert not words.is_scored(tiny_rn, layer)

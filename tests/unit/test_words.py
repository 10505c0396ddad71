"""Rastered words: vocabulary, deterministic rasters, cached/resumable scoring, rankings, embedding, CLI."""
from __future__ import annotations

import numpy as np
import pytest

from core.analyses import words
from core.errors import BadInputError, UnitOutOfRangeError

LAYER = "visual.layer4.0.act3@in"
SMALL = ("cat", "dog", "pizza", "house", "tree", "spider", "yellow", "france", "paris", "music",
         "the", "of", "running", "underground", "christmas", "ipod", "garbage", "water", "king", "queen")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def artifacts(tmp_path, monkeypatch):
    monkeypatch.setenv("CLIP_EXPLORER_ARTIFACTS", str(tmp_path / "artifacts"))
    return tmp_path / "artifacts"


def test_vocabulary_is_shipped_common_words():
    vocab = words.load_vocabulary()
    assert len(vocab) >= 10_000 and len(set(vocab)) == len(vocab)
    assert vocab[0] == "the" and all(w.isalpha() and w.islower() for w in vocab)
    for w in ("cat", "spider", "christmas", "music", "france"):
        assert w in vocab
    assert (words.VOCAB_FILE.parent / "SOURCE.md").is_file()


def test_word_rasters_are_deterministic():
    a = words.raster_word("spider", 64)
    b = words.raster_word("spider", 64)
    assert a.size == (64, 64) and a.tobytes() == b.tobytes()
    small = words.raster_word("spider", 64, font="DejaVuSerif", scale=0.7)
    assert small.tobytes() == words.raster_word("spider", 64, font="DejaVuSerif", scale=0.7).tobytes()
    assert small.tobytes() != a.tobytes()
    arr = np.asarray(a)
    assert arr.min() < 50 and arr.max() == 255  # dark ink on white


def test_score_words_matches_a_plain_forward(tiny_rn):
    from core.model.hooks import capture

    acts = words.score_words(tiny_rn, ["cat", "dog"], LAYER)
    assert acts.shape == (2, 256) and acts.dtype == np.float32
    per_variant = []
    for font, scale in words.VARIANTS:
        x = words._pixels(tiny_rn, [words.raster_word("dog", 64, font=font, scale=scale)])
        with capture(tiny_rn, [LAYER]) as got:
            tiny_rn.model.encode_image(x)
        per_variant.append(got[LAYER].flatten(2).amax(dim=2)[0].numpy())
    np.testing.assert_allclose(acts[1], np.mean(per_variant, axis=0), rtol=1e-4, atol=1e-6)


def test_word_activations_cached_and_resumable(tiny_rn, artifacts, monkeypatch):
    monkeypatch.setattr(words, "CHUNK", 8)
    calls = []
    real = words.score_words

    def counting(loaded, ws, layer, **kw):
        calls.append(len(ws))
        return real(loaded, ws, layer, **kw)

    monkeypatch.setattr(words, "score_words", counting)

    def interrupt(done, total):
        if done >= 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        words.word_activations(tiny_rn, words=SMALL, progress=interrupt)
    assert calls == [8]
    table = words.word_activations(tiny_rn, words=SMALL)
    assert calls == [8, 8, 4]  # the first chunk came from disk
    assert table.acts.shape == (len(SMALL), 256) and table.layer == LAYER
    again = words.word_activations(tiny_rn, words=SMALL)
    assert calls == [8, 8, 4] and np.array_equal(again.acts, table.acts)
    assert len(list(artifacts.rglob("acts.npy"))) == 1 and not list(artifacts.rglob("chunk-*.npy"))


def test_top_bottom_words_and_embedding(tiny_rn, artifacts):
    table = words.word_activations(tiny_rn, words=SMALL)
    unit = 7
    top = words.top_words(table, unit, 5)
    bottom = words.top_words(table, unit, 5, bottom=True)
    col = table.acts[:, unit]
    assert list(top["word"]) == [SMALL[i] for i in np.argsort(-col, kind="stable")[:5]]
    assert list(bottom["word"]) == [SMALL[i] for i in np.argsort(col, kind="stable")[:5]]
    assert top["activation"].is_monotonic_decreasing and bottom["activation"].is_monotonic_increasing
    assert list(top["rank"]) == [1, 2, 3, 4, 5]
    assert top["score"].iloc[0] > 0 > bottom["score"].iloc[0]
    with pytest.raises(BadInputError, match="0..255"):
        words.top_words(table, 256)
    emb = table.embedding
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-4)
    np.testing.assert_allclose((table.acts - table.mean).mean(axis=0), 0.0, atol=1e-5)


def test_nearest_words(tiny_rn, artifacts, monkeypatch):
    monkeypatch.setattr(words, "_vocabulary", lambda: SMALL)
    near = words.nearest_words(tiny_rn, "king", 5)
    assert len(near) == 5 and "king" not in set(near["word"])
    assert near["similarity"].is_monotonic_decreasing and near["similarity"].max() <= 1.0 + 1e-6
    oov = words.nearest_words(tiny_rn, "zebra", 3)  # not in the vocabulary: drawn and scored on the fly
    assert len(oov) == 3
    with pytest.raises(BadInputError):
        words.nearest_words(tiny_rn, "  ", 3)
    with pytest.raises(UnitOutOfRangeError):
        words.neuron_words(tiny_rn, f"{LAYER}:9999")


def test_cli_words(tiny_rn, artifacts, monkeypatch, capsys):
    import json

    from core.cli import main

    monkeypatch.setattr(words, "_vocabulary", lambda: SMALL)
    assert main(["words", "--model", "tiny-rn/random", "--neuron", "3", "--top", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["neuron"] == f"{LAYER}:3" and len(out["top"]) == 4 and len(out["bottom"]) == 4
    assert out["top"][0]["activation"] >= out["top"][-1]["activation"]
    assert main(["words", "--model", "tiny-rn/random", "--near", "cat", "--top", "3"]) == 0
    assert "similarity" in capsys.readouterr().out
    assert main(["words", "--model", "tiny-rn/random"]) == 2
    assert "--neuron" in capsys.readouterr().err

"""Zero-shot classification (core.analyses.zeroshot) on a tiny real open_clip model."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.analyses import zeroshot
from core.errors import BadInputError
from core.model.embed import encode_text


def test_parse_class_list():
    assert zeroshot.parse_class_list("cat, dog\nboat;  big   ship ,Cat,,") == ["cat", "dog", "boat", "big ship"]
    with pytest.raises(BadInputError, match="at least 2"):
        zeroshot.parse_class_list(" , cat ,")
    with pytest.raises(BadInputError, match="at most"):
        zeroshot.parse_class_list(["x" * 100, "y"])


def test_templates():
    assert zeroshot.default_template("demo") == "a drawing of a {}"
    assert zeroshot.default_template("RN50x4/openai") == "a photo of a {}"
    with pytest.raises(BadInputError, match="exactly one"):
        zeroshot.check_template("a photo of a cat")
    with pytest.raises(BadInputError):
        zeroshot.check_template("a {} of a {}")
    with pytest.raises(BadInputError):
        zeroshot.check_template("a {name}")


def test_class_embeddings_match_encode_text_and_are_cached(tiny_rn):
    emb = zeroshot.class_embeddings(tiny_rn, ["cat", "dog"], "a photo of a {}")
    ref = encode_text(tiny_rn, ["a photo of a cat", "a photo of a dog"]).numpy()
    assert emb.shape == (2, ref.shape[1])
    assert np.allclose(emb, ref, atol=1e-5)
    again = zeroshot.class_embeddings(tiny_rn, ["cat", "dog"], "a photo of a {}")
    assert again is emb  # served from the cache
    ens = zeroshot.class_embeddings(tiny_rn, ["cat", "dog"], ["a photo of a {}", "a drawing of a {}"])
    assert np.allclose(np.linalg.norm(ens, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(ens, emb)


def test_classifier_probabilities(tiny_rn):
    clf = zeroshot.build_classifier(tiny_rn, ["cat", "dog", "boat"])
    assert clf.templates == ("a photo of a {}",)
    assert clf.index_of("DOG") == 1 and clf.index_of("plane") is None
    imgs = [Image.new("RGB", (40, 40), c) for c in ("red", "green", "blue")]
    p = zeroshot.classify_images(tiny_rn, imgs, clf)
    assert p.shape == (3, 3)
    assert np.allclose(p.sum(1), 1.0)
    # probabilities follow the model's own logits: softmax(scale * cos)
    from core.model.embed import encode_images, preprocess_batch
    emb = encode_images(tiny_rn, preprocess_batch(tiny_rn, imgs)).numpy()
    logits = zeroshot.logit_scale(tiny_rn) * emb @ clf.text_emb.T
    assert (p.argmax(1) == logits.argmax(1)).all()


def test_softmax_probs_is_stable():
    p = zeroshot.softmax_probs(np.array([[1.0, 0.0]]), np.array([[1.0, 0.0], [0.0, 1.0]]), 1e4)
    assert np.isfinite(p).all() and p[0, 0] == pytest.approx(1.0)

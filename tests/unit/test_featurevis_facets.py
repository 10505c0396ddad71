"""Facet probes: logistic regression, held-out accuracy above chance, caching, the faceted objective."""
from __future__ import annotations

import numpy as np
import pytest

from core.errors import BadInputError
from core.featurevis import facets, render

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def small_pool(tmp_path, monkeypatch):
    """A smaller training pool (the tiny model's features are cheap, but keep the test quick)."""
    monkeypatch.setenv("CLIP_EXPLORER_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.setattr(facets, "PER_LABEL", {"train": 12, "test": 6})
    monkeypatch.setattr(facets, "WORDS", {"train": 120, "test": 60})
    return tmp_path / "artifacts"


def test_train_logistic_separates_and_beats_chance_held_out():
    rng = np.random.default_rng(0)
    w_true = rng.normal(size=20)
    x = rng.normal(size=(600, 20)) * rng.uniform(0.1, 10, 20) + 3.0  # unscaled, offset features
    y = ((x - 3.0) @ (w_true / rng.uniform(0.1, 10, 20)) + rng.normal(0, 0.5, 600) > 0).astype(float)
    w, b = facets.train_logistic(x[:400], y[:400])
    acc = facets.balanced_accuracy(x[400:], y[400:], w, b)
    assert acc > 0.8


def test_facet_probes_beat_chance_on_held_out_images(tiny_rn, small_pool):
    text = facets.train_facet(tiny_rn, "text")
    assert text.layer == "visual.layer3.0" and text.weights.shape == (128,)
    assert text.test_acc > 0.7, text  # rendered words vs pictures: easy even for random features
    assert text.n_test > 0 and text.n_train > text.n_test
    flag = facets.train_facet(tiny_rn, "flag")
    assert flag.test_acc > 0.55, flag
    assert np.sqrt(np.mean(flag.weights ** 2)) == pytest.approx(1.0, rel=1e-3)
    # cached: the second call reads the probe back without touching the features
    cached = list(small_pool.rglob("probe-text-*.json"))
    assert len(cached) == 1
    again = facets.train_facet(tiny_rn, "text")
    np.testing.assert_array_equal(again.weights, text.weights)


def test_unknown_facet_lists_valid_ones(tiny_rn, small_pool):
    with pytest.raises(BadInputError, match="Available: text"):
        facets.train_facet(tiny_rn, "texture")
    assert "text" in facets.facet_names() and "flag" in facets.facet_names()


def test_faceted_render_runs_and_names_the_facet(tiny_rn, small_pool):
    obj = facets.faceted_objective(tiny_rn, "visual.layer4.0.act3@in:3", "text", strength=(0.5, 3.0))
    assert set(obj.layers) == {"visual.layer3.0", "visual.layer4.0.act3@in"}
    r = render(tiny_rn, obj, steps=6, batch=2, seed=0)
    assert "facet[text" in r.objective and np.all(np.isfinite(r.losses))
    assert np.mean(r.losses[-2:]) < r.losses[0]

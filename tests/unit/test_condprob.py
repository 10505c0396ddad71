"""Conditional-probability tables (core.analyses.condprob): pure numpy/pandas."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.analyses import condprob
from core.errors import BadInputError


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(-1, 0.5, 300), rng.normal(3, 1.0, 100)])
    labels = ["low"] * 300 + ["high"] * 100
    return values, labels


def test_edges_are_uniform_between_min_and_max(data):
    values, _ = data
    edges = condprob.bucket_edges(values, 10)
    assert len(edges) == 11
    assert edges[0] == pytest.approx(values.min()) and edges[-1] == pytest.approx(values.max())
    assert np.allclose(np.diff(edges), np.diff(edges)[0])
    which = condprob.assign_buckets(values, edges)
    assert which.min() == 0 and which.max() == 9  # the maximum lands in the last bucket


def test_sample_caps_per_bucket_and_uses_std_units(data):
    values, labels = data
    s = condprob.sample_buckets(values, labels, buckets=8, per_bucket=20, seed=1)
    assert s.groupby("bucket").size().max() <= 20
    std = values.std()
    assert np.allclose(s["x"], s["value"] / std)  # std-devs from zero: no mean subtraction
    assert (s["x"] >= s["left"] - 1e-9).all() and (s["x"] <= s["right"] + 1e-9).all()
    assert s["row"].is_unique
    assert [labels[r] for r in s["row"]] == list(s["label"])


def test_sample_is_deterministic_and_seed_dependent(data):
    values, labels = data
    a = condprob.sample_buckets(values, labels, buckets=5, per_bucket=10, seed=3)
    b = condprob.sample_buckets(values, labels, buckets=5, per_bucket=10, seed=3)
    c = condprob.sample_buckets(values, labels, buckets=5, per_bucket=10, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert not a["row"].equals(c["row"])


def test_fractions_sum_to_one_and_track_the_categories(data):
    values, labels = data
    frac = condprob.category_fractions(condprob.sample_buckets(values, labels, buckets=6, per_bucket=30))
    sums = frac.groupby("bucket")["fraction"].sum()
    assert np.allclose(sums, 1.0)
    assert set(frac["label"]) == {"low", "high"}
    # every (bucket, label) pair exists so the stacked chart lines up
    assert len(frac) == frac["bucket"].nunique() * 2
    high = frac[frac["label"] == "high"].set_index("bucket")["fraction"]
    assert high.iloc[-1] == 1.0 and high.iloc[0] == 0.0  # the top bucket is all "high"


def test_bucket_members_and_bad_bucket(data):
    values, labels = data
    s = condprob.sample_buckets(values, labels, buckets=4, per_bucket=5)
    m = condprob.bucket_members(s, 3)
    assert (m["bucket"] == 3).all() and m["value"].is_monotonic_decreasing
    with pytest.raises(BadInputError, match="Non-empty buckets"):
        condprob.bucket_members(s, 99)


def test_distributions_and_summary(data):
    values, labels = data
    dist = condprob.category_distributions(values, labels)
    summ = condprob.category_summary(dist)
    assert list(summ["label"]) == ["high", "low"]  # sorted by median
    assert summ.set_index("label").loc["high", "n"] == 100
    assert summ.set_index("label").loc["high", "median"] == pytest.approx(np.median(values[300:]) / values.std())


def test_bad_inputs():
    with pytest.raises(BadInputError, match="empty"):
        condprob.sample_buckets(np.array([]), [], buckets=3)
    with pytest.raises(BadInputError, match="row-aligned"):
        condprob.sample_buckets(np.ones(3), ["a"], buckets=3)
    with pytest.raises(BadInputError, match="between 1 and"):
        condprob.bucket_edges(np.ones(3), 0)
    with pytest.raises(BadInputError, match="not finite"):
        condprob.sample_buckets(np.array([1.0, np.nan]), None)
    # constant activation: one usable bucket, no division by zero
    s = condprob.sample_buckets(np.zeros(5), None, buckets=3)
    assert len(s) == 5 and (s["label"] == condprob.UNLABELLED).all()


def test_zero_shot_labels_from_embeddings():
    text = np.eye(3, 4)  # 3 classes in 4 dims
    img = np.array([[1, 0, 0, 0], [0, 0.9, 0.1, 0], [0.5, 0.5, 0.5, 0.5]], float)
    img /= np.linalg.norm(img, axis=1, keepdims=True)
    out = condprob.label_rows(img, text, ["a", "b", "c"], scale=100, min_prob=0.5)
    assert list(out["label"]) == ["a", "b", "other"]
    assert out["prob"].between(0, 1).all()
    with pytest.raises(BadInputError, match="same model"):
        condprob.label_rows(np.ones((2, 5)), text, ["a", "b", "c"])


def test_many_categories_are_lumped_and_bars_stack(data):
    values, _ = data
    labels = [f"c{i % 12}" if i % 3 else "common" for i in range(len(values))]
    sample = condprob.sample_buckets(values, labels, buckets=5, per_bucket=40, keep=3)
    assert set(sample["label"]) - {"common"} and sample["label"].str.startswith("c").all()  # own labels kept
    frac = condprob.category_fractions(sample)
    top3 = set(pd.Series(labels).value_counts().index[:3])  # by frequency over the whole collection
    assert set(frac["label"]) == top3 | {condprob.OTHER}
    for _, g in frac.groupby("bucket"):
        assert g["y1"].iloc[-1] == pytest.approx(1.0)
        assert np.allclose(g["y0"].iloc[1:].to_numpy(), g["y1"].iloc[:-1].to_numpy())  # bars stack without gaps
    dist = condprob.category_distributions(values, labels, keep=3)
    assert set(dist["label"]) == top3 | {condprob.OTHER}  # the same categories as the fractions

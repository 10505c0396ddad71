"""Neuron-card analyses on small hand-checkable arrays."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.analyses import neuron_card as nc
from core.analyses import tiles
from core.errors import BadInputError, UnitOutOfRangeError


def test_vocabulary_has_demo_categories_and_no_duplicates():
    from core.pipeline.demo import CATEGORIES

    vocab = nc.load_label_phrases()
    assert len(vocab) >= 300 and len(set(vocab)) == len(vocab)
    assert set(CATEGORIES) <= set(vocab)
    assert not any(p.startswith("#") for p in vocab)


def test_std_buckets_cover_range_and_are_seeded():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(0, 1, 500), [-6.0, 9.0]])
    df = nc.std_bucket_samples(values, buckets=5, per_bucket=2, seed=1)
    assert list(df.columns) == ["row", "value", "z", "bucket", "lo_z", "hi_z"]
    assert df["row"].is_unique and len(df) <= 10
    assert values[df["row"]].tolist() == pytest.approx(df["value"].tolist())
    assert df["lo_z"].min() == pytest.approx(-6.0 / values.std()) and df["hi_z"].max() == pytest.approx(9 / values.std())
    assert ((df["z"] >= df["lo_z"] - 1e-9) & (df["z"] <= df["hi_z"] + 1e-9)).all()
    assert {0, 4} <= set(df["bucket"])  # the extreme (sparse) buckets are represented
    assert df.equals(nc.std_bucket_samples(values, buckets=5, per_bucket=2, seed=1))


def test_histogram_counts_everything():
    values = np.arange(100, dtype=np.float32)
    df = nc.activation_histogram(values, bins=10)
    assert df["count"].sum() == 100 and len(df) == 10
    assert df["hi_z"].iloc[-1] == pytest.approx(99 / values.std())


def test_similar_by_direction():
    d = np.array([[1, 0], [0.9, 0.1], [0, 1], [-1, 0]], dtype=np.float32)
    df = nc.similar_by_direction(d, 0, top=3)
    assert df["unit"].tolist() == [1, 2, 3]
    assert df["cosine"].iloc[0] == pytest.approx(0.9 / np.hypot(0.9, 0.1)) and df["cosine"].iloc[-1] == pytest.approx(-1)
    with pytest.raises(UnitOutOfRangeError, match="0..3"):
        nc.similar_by_direction(d, 4)


def test_similar_by_correlation_matches_numpy():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 6)).astype(np.float32)
    a[:, 3] = 2 * a[:, 0] + 0.01 * rng.normal(size=50)
    a[:, 5] = 1.0  # constant unit: correlation 0, no NaN
    df = nc.similar_by_correlation(a, 0, top=5)
    assert df["unit"].iloc[0] == 3
    ref = np.corrcoef(a[:, :5].T)[0]
    for u, c in zip(df["unit"], df["correlation"]):
        assert c == pytest.approx(0.0 if u == 5 else ref[u], abs=1e-4)
    with pytest.raises(BadInputError):
        nc.similar_by_correlation(a[:1], 0)


def test_zero_shot_labels_orders_both_sides():
    emb = np.eye(3, dtype=np.float32)
    df = nc.zero_shot_labels(np.array([0.2, 1.0, -0.5]), emb, ["a", "b", "c"], top=2)
    assert df["phrase"].tolist() == ["b", "a", "c", "a"]
    assert df["side"].tolist() == ["excites", "excites", "inhibits", "inhibits"]
    assert df["rank"].tolist() == [0, 1, 2, 3]
    assert df["score"].iloc[0] == pytest.approx(1.0 / np.linalg.norm([0.2, 1.0, -0.5]))


@pytest.mark.parametrize("flat,grid,offset,box", [(0, (2, 2), 0, (0, 0, 63, 63)), (3, (2, 2), 0, (64, 64, 127, 127)),
                                                 (1, (3, 3), 0, (43, 0, 84, 42)), (0, (2, 2), 1, None),
                                                 (4, (2, 2), 1, (64, 64, 127, 127)), (4, (2, 2), 0, None)])
def test_cell_box(flat, grid, offset, box):
    assert tiles.cell_box(flat, grid, 128, offset=offset) == box


def test_outlined_tile_marks_the_argmax_cell():
    img = Image.new("RGB", (200, 100), "white")  # wide: centre-cropped to a square like the model sees it
    tile = tiles.outlined_tile(img, 3, (2, 2))
    arr = np.asarray(tile)
    assert tile.size == (128, 128)
    assert tuple(arr[64, 100]) == tiles.OUTLINE  # top edge of the bottom-right cell
    assert tuple(arr[10, 10]) == (255, 255, 255)  # other cells untouched
    assert np.asarray(tiles.outlined_tile(img, None, None)).min() == 255

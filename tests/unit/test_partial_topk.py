"""The finalize's running top-k: the same rows, in the same order, as a stable full sort (ties: lower row first,
NaN last), over blocks of any size; and fast enough not to dominate a GPU run's end-to-end time."""
from __future__ import annotations

import numpy as np
import pytest

from core.pipeline.partial import _TopK


def reference(blocks, k, largest):
    v = np.concatenate(blocks).astype(np.float32)
    order = np.argsort((-1.0 if largest else 1.0) * v, axis=0, kind="stable")[:k]
    return np.ascontiguousarray(order.T.astype(np.int32))


@pytest.mark.parametrize("largest", [True, False])
def test_matches_a_stable_sort_on_tie_heavy_blocks(largest):
    rng = np.random.default_rng(0)
    for _ in range(150):
        units, k = int(rng.integers(1, 6)), int(rng.integers(1, 9))
        blocks = []
        for _ in range(int(rng.integers(1, 5))):
            v = rng.integers(-3, 4, (int(rng.integers(1, 7)), units)).astype(np.float32) * np.float32(0.5)
            v[rng.random(v.shape) < 0.2] = -0.0
            v[rng.random(v.shape) < 0.05] = np.nan
            blocks.append(v)
        if sum(len(b) for b in blocks) < k:
            continue
        top, at = _TopK(k, largest), 0
        for b in blocks:
            top.update(b, at)
            at += len(b)
        assert np.array_equal(top.result(), reference(blocks, k, largest))


def test_float16_activations_at_scale():
    rng = np.random.default_rng(1)
    blocks = [rng.standard_normal((300, 64)).astype(np.float16).astype(np.float32) for _ in range(4)]
    top, at = _TopK(48, True), 0
    for b in blocks:
        top.update(b, at)
        at += len(b)
    assert np.array_equal(top.result(), reference(blocks, 48, True))

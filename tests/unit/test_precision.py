"""Mixed precision in extraction and search: recorded, kept apart from float32 runs, measured by topk_agreement.

On CPU the autocast path runs in bfloat16 (``--precision amp`` / ``bf16``); the same code runs float16 on CUDA
(tests/unit/test_gpu.py)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from core.errors import ArtifactMismatchError, BadInputError
from core.pipeline.agreement import topk_agreement
from core.pipeline.extract import default_workers, run_extraction


@pytest.fixture(scope="module")
def pair(tiny_rn, tmp_path_factory):
    import torch

    from tests.conftest import make_image_folder

    base = tmp_path_factory.mktemp("prec")
    images = make_image_folder(base / "images", n_per_class=6)
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        fp32 = run_extraction(tiny_rn, images, base / "fp32", batch_size=8, workers=0)
        bf16 = run_extraction(tiny_rn, images, base / "bf16", batch_size=8, workers=0, precision="bf16")
    finally:
        torch.set_num_threads(old)
    return base, images, fp32, bf16


def test_precision_is_recorded_and_changes_the_computation(pair):
    _, _, fp32, bf16 = pair
    assert fp32.manifest["precision"] == "fp32" and bf16.manifest["precision"] == "bf16"
    a, b = np.asarray(fp32.max, np.float32), np.asarray(bf16.max, np.float32)
    assert not np.array_equal(a, b)  # autocast really ran
    assert np.abs(a - b).max() <= 0.05 * np.abs(a).max() + 1e-3  # ...and stayed close


def test_default_precision_on_cpu_is_float32(pair, tiny_rn, tmp_path):
    base, images, fp32, _ = pair
    art = run_extraction(tiny_rn, images, tmp_path / "auto", batch_size=8, workers=0, precision="auto")
    assert art.manifest["precision"] == "fp32"
    assert np.array_equal(np.asarray(art.max), np.asarray(fp32.max))


def test_a_finished_float32_artifact_is_not_reused_for_another_precision(pair, tiny_rn):
    base, images, _, _ = pair
    with pytest.raises(ArtifactMismatchError, match="in fp32"):
        run_extraction(tiny_rn, images, base / "fp32", batch_size=8, workers=0, precision="bf16")
    same = run_extraction(tiny_rn, images, base / "bf16", batch_size=8, workers=0, precision="amp")  # amp = bf16
    assert same.manifest["run_id"] == pair[3].manifest["run_id"]


def test_an_unfinished_run_is_not_resumed_in_another_precision(tiny_rn, image_folder, tmp_path, monkeypatch):
    import core.pipeline.extract as ex

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(ex, "finalize", boom)
    with pytest.raises(KeyboardInterrupt):
        run_extraction(tiny_rn, image_folder, tmp_path / "a", batch_size=4, workers=0, chunk_rows=4)
    monkeypatch.undo()
    with pytest.raises(ArtifactMismatchError, match="unfinished run"):
        run_extraction(tiny_rn, image_folder, tmp_path / "a", batch_size=4, workers=0, chunk_rows=4,
                       precision="bf16")


def test_agreement_of_a_run_with_itself_is_perfect(pair):
    _, _, fp32, bf16 = pair
    same = topk_agreement(fp32, fp32, k=5)
    assert same["identical"] == same["identical_order"] == 1.0 and same["max_abs_diff"] == 0.0
    assert same["emb_cosine_min"] == pytest.approx(1.0, abs=1e-3)
    mixed = topk_agreement(fp32, bf16, k=5)
    assert 0.0 <= mixed["identical"] <= 1.0 and mixed["units"] == fp32.units and mixed["rows"] == fp32.rows
    assert mixed["emb_cosine_min"] > 0.98


def _fake(maxv, emb=None):
    n = maxv.shape[0]
    return SimpleNamespace(keys=[str(i) for i in range(n)], max=maxv, mean=maxv,
                           embeddings=emb if emb is not None else np.eye(n, 4, dtype=np.float32))


def test_agreement_counts_units_whose_top_rows_change():
    a = np.array([[5, 5, 1], [4, 4, 2], [3, 3, 3], [0, 0, 4]], np.float32)  # (4 rows, 3 units)
    b = a.copy()
    b[2, 1], b[1, 1] = 4.5, 3  # unit 1: rows 1 and 2 swap places -> top-2 set {0,1} becomes {0,2}
    b[0, 2], b[1, 2] = 1.5, 1  # unit 2: order among the bottom rows changes, the top-2 set does not
    res = topk_agreement(_fake(a), _fake(b), k=2)
    assert res["identical"] == pytest.approx(2 / 3) and res["identical_order"] == pytest.approx(2 / 3)
    assert res["worst_overlap"] == 0.5 and res["mean_overlap"] == pytest.approx((1 + 0.5 + 1) / 3)
    res3 = topk_agreement(_fake(a), _fake(b), k=3)  # unit 1: same 3 rows, new order; unit 2: row 0 replaces 1
    assert res3["identical"] == pytest.approx(2 / 3) and res3["identical_order"] == pytest.approx(1 / 3)


def test_agreement_refuses_different_collections():
    a = np.zeros((3, 2), np.float32)
    other = _fake(a)
    other.keys = ["x", "y", "z"]
    with pytest.raises(BadInputError, match="same images"):
        topk_agreement(_fake(a), other)
    with pytest.raises(BadInputError, match="k must be"):
        topk_agreement(_fake(a), _fake(a), k=4)


def test_worker_policy_feeds_a_gpu():
    assert default_workers("cpu", cpus=2) == 0 and default_workers("cpu", cpus=16) == 4
    assert default_workers("cuda", cpus=16) == 14 and default_workers("cuda:0", cpus=2) == 1
    assert default_workers("cuda", cpus=128) == 32


def test_search_encodings_follow_the_precision_setting(tiny_rn, monkeypatch):
    import torch

    from core.model.embed import encode_images, encode_text

    pixels = torch.randn(2, 3, tiny_rn.image_size, tiny_rn.image_size)
    monkeypatch.setenv("CLIP_EXPLORER_PRECISION", "auto")
    t32, i32 = encode_text(tiny_rn, ["a dog", "a cat"]), encode_images(tiny_rn, pixels)
    monkeypatch.setenv("CLIP_EXPLORER_PRECISION", "bf16")
    t16, i16 = encode_text(tiny_rn, ["a dog", "a cat"]), encode_images(tiny_rn, pixels)
    assert t16.dtype == i16.dtype == torch.float32
    assert not torch.equal(t32, t16) and not torch.equal(i32, i16)
    assert (t32 * t16).sum(1).min() > 0.98 and (i32 * i16).sum(1).min() > 0.98
    assert torch.equal(encode_text(tiny_rn, ["a dog", "a cat"], precision="fp32"), t32)


def test_a_batch_that_overflows_under_autocast_is_recomputed_in_float32(pair, tiny_rn, tmp_path, one_torch_thread):
    """float16 can overflow where float32 does not: such a batch is redone in float32, never stored as inf."""
    import torch

    from core.model.hooks import patch

    _, images, fp32, _ = pair

    def overflow_under_autocast(act):
        return act * float("inf") if torch.is_autocast_enabled("cpu") else act

    with patch(tiny_rn, "visual.layer4", overflow_under_autocast):
        art = run_extraction(tiny_rn, images, tmp_path / "of", batch_size=8, workers=0, precision="bf16")
    assert art.manifest["precision"] == "bf16"
    for name in ("max", "mean", "embeddings"):
        assert np.array_equal(np.asarray(getattr(art, name)), np.asarray(getattr(fp32, name))), name

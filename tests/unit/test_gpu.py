"""Extraction and search with the model on a CUDA GPU (deselected by default; ``pytest -m gpu`` on a GPU box).

Each test skips cleanly where torch sees no CUDA device.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


@pytest.fixture(scope="module")
def rn_cuda():
    from core.model.loading import load_model
    from tests.conftest import TINY_RN, register_tiny_configs

    register_tiny_configs()
    return load_model(f"{TINY_RN}/random", device="cuda")


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    from benchmarks.bench_extract import make_jpegs

    root = tmp_path_factory.mktemp("gpu") / "photos"
    make_jpegs(root, 96, 500, 375)
    return root


def test_cuda_float32_matches_cpu(rn_cuda, tiny_rn, photos, tmp_path):
    from core.pipeline.extract import run_extraction

    cpu = run_extraction(tiny_rn, photos, tmp_path / "cpu", batch_size=32, workers=0)
    gpu = run_extraction(rn_cuda, photos, tmp_path / "gpu", batch_size=32, workers=2, precision="fp32")
    assert gpu.manifest["precision"] == "fp32"
    a, b = np.asarray(cpu.max, np.float32), np.asarray(gpu.max, np.float32)
    assert np.abs(a - b).max() <= 1e-2 * max(1.0, np.abs(a).max())


def test_mixed_precision_agrees_with_float32(rn_cuda, photos, tmp_path):
    from core.pipeline.agreement import topk_agreement
    from core.pipeline.extract import run_extraction

    fp32 = run_extraction(rn_cuda, photos, tmp_path / "fp32", batch_size=32, workers=2, precision="fp32")
    amp = run_extraction(rn_cuda, photos, tmp_path / "amp", batch_size=32, workers=2)  # auto: fp16 on CUDA
    assert amp.manifest["precision"] == "fp16"
    res = topk_agreement(fp32, amp, k=5)
    assert res["emb_cosine_min"] > 0.99 and res["mean_overlap"] >= 0.9, res


def test_gpu_decoding_matches_pil_within_tolerance(rn_cuda, photos):
    from core.pipeline import fast_decode
    from core.pipeline.images import open_image

    files = sorted(photos.rglob("*.jpg"))[:16]
    spec = fast_decode.standard_transform(rn_cuda)
    decoded = fast_decode.decode([fast_decode.jpeg_bytes(f) for f in files], "cuda")
    assert all(d is not None and d.is_cuda for d in decoded)
    ours = fast_decode.preprocess(decoded, spec).cpu()
    pil = torch.stack([rn_cuda.preprocess(open_image(f)) for f in files])
    diff = (ours - pil).abs()
    assert diff.max() <= fast_decode.TOLERANCE and diff.mean() <= fast_decode.MEAN_TOLERANCE, (diff.max(), diff.mean())


def test_gpu_decoding_run(rn_cuda, photos, tmp_path):
    from core.pipeline.extract import run_extraction

    cpu = run_extraction(rn_cuda, photos, tmp_path / "cpu", batch_size=32, workers=2, precision="fp32")
    gpu = run_extraction(rn_cuda, photos, tmp_path / "gpu", batch_size=32, workers=2, precision="fp32", decode="gpu")
    assert gpu.rows == cpu.rows and "decode" in gpu.manifest["preprocess"]
    a, b = np.asarray(cpu.max, np.float32), np.asarray(gpu.max, np.float32)
    assert np.abs(a - b).max() <= 0.05 * np.abs(a).max()


def test_search_on_cuda(rn_cuda, photos):
    from core.analyses.search import image_to_neurons, text_to_neurons
    from core.model.embed import encode_text
    from core.pipeline.images import open_image

    emb = encode_text(rn_cuda, ["a dog", "a cat"])
    assert emb.device.type == "cpu" and emb.dtype == torch.float32
    assert (encode_text(rn_cuda, ["a dog", "a cat"], precision="fp32") * emb).sum(1).min() > 0.99
    assert len(text_to_neurons(rn_cuda, "a dog", top=5)) == 5
    assert len(image_to_neurons(rn_cuda, open_image(next(photos.rglob("*.jpg"))), top=5)) == 5


def test_uint8_feed_normalised_on_cuda_equals_the_cpu_preprocess(rn_cuda, photos):
    from core.pipeline import fast_decode
    from core.pipeline.images import open_image

    spec = fast_decode.standard_transform(rn_cuda)
    crop = fast_decode.resize_crop_uint8(rn_cuda)
    files = sorted(photos.rglob("*.jpg"))[:8]
    u8 = torch.stack([crop(open_image(f)) for f in files]).pin_memory().to("cuda", non_blocking=True)
    ours = fast_decode.normalize(u8, spec).cpu()
    ref = torch.stack([rn_cuda.preprocess(open_image(f)) for f in files])
    assert (ours - ref).abs().max() <= 1e-6

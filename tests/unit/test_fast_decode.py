"""``--decode gpu``'s code path (core.pipeline.fast_decode) run on CPU tensors: same pixels as the PIL path within the
documented tolerance, and the same files skipped for the same reasons. tests/unit/test_gpu.py runs it on CUDA."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from core.pipeline import fast_decode
from core.pipeline.images import open_image

LEVELS_2 = 2 / 255 / 0.2613  # two uint8 levels after normalisation (the smallest std of the CLIP mean/std)


def photo(w, h, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = (np.sin(xx / 9.0) + np.cos(yy / 6.0))[..., None] * 60 + 128
    return np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)


@pytest.fixture
def jpegs(tmp_path):
    d = tmp_path / "photos" / "a"
    d.mkdir(parents=True)
    Image.fromarray(photo(500, 375)).save(d / "wide.jpg", quality=90)
    Image.fromarray(photo(375, 500, 1)).save(d / "tall.jpg", quality=90)
    Image.fromarray(photo(120, 90, 2)[..., 0]).save(d / "grey.jpg", quality=90)
    rotated = Image.fromarray(photo(200, 100, 3))
    exif = rotated.getexif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    rotated.save(d / "exif.jpg", quality=90, exif=exif)
    return sorted(d.iterdir())


def test_standard_transforms_are_recognised(tiny_rn, tiny_vit):
    for m in (tiny_rn, tiny_vit):
        spec = fast_decode.standard_transform(m)
        assert spec["resize"] == spec["crop"] == m.image_size and len(spec["mean"]) == 3


def test_other_transforms_are_not(tiny_rn):
    from types import SimpleNamespace

    from torchvision import transforms as T

    tf = T.Compose([T.Resize(64, interpolation=T.InterpolationMode.BILINEAR), T.CenterCrop(64), T.ToTensor(),
                    T.Normalize((0.5,) * 3, (0.5,) * 3)])
    assert fast_decode.standard_transform(SimpleNamespace(preprocess=SimpleNamespace(transform=tf))) is None
    assert fast_decode.standard_transform(SimpleNamespace(preprocess=lambda x: x)) is None


def test_tensor_path_matches_pil_within_tolerance(tiny_rn, jpegs):
    spec = fast_decode.standard_transform(tiny_rn)
    datas = [fast_decode.jpeg_bytes(p) for p in jpegs]
    assert all(d is not None for d in datas)
    ours = fast_decode.preprocess(fast_decode.decode(datas, "cpu"), spec)
    pil = torch.stack([tiny_rn.preprocess(open_image(p)) for p in jpegs])
    diff = (ours - pil).abs()
    assert ours.shape == pil.shape and ours.dtype == torch.float32
    assert diff.max() <= LEVELS_2 and diff.mean() <= 0.002  # CPU: libjpeg both sides, <= 2 levels of resize
    assert diff.max() <= fast_decode.TOLERANCE and diff.mean() <= fast_decode.MEAN_TOLERANCE


def test_files_the_decoder_should_not_take_go_to_pil(tmp_path):
    Image.fromarray(photo(40, 30)).save(tmp_path / "a.png")
    Image.fromarray(photo(40, 30)).convert("CMYK").save(tmp_path / "cmyk.jpg")
    Image.fromarray(photo(40, 30)).save(tmp_path / "ok.jpg")
    data = (tmp_path / "ok.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.jpg").write_bytes(b"not an image")
    for name in ("a.png", "cmyk.jpg", "cut.jpg", "junk.jpg", "missing.jpg"):
        assert fast_decode.jpeg_bytes(tmp_path / name) is None, name
    assert fast_decode.jpeg_bytes(tmp_path / "ok.jpg") is not None
    assert fast_decode.jpeg_bytes(tmp_path / "ok.jpg", max_pixels=100) is None


def test_a_bad_blob_in_a_batch_fails_alone():
    buf = io.BytesIO()
    Image.fromarray(photo(40, 30)).save(buf, "JPEG")
    good = torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8)
    bad = torch.frombuffer(bytearray(buf.getvalue()[:200] + b"\xff\xd9"), dtype=torch.uint8)
    out = fast_decode.decode([good, bad, good], "cpu")
    assert out[1] is None and out[0].shape == out[2].shape == (3, 30, 40)


def test_not_available_off_cuda(tiny_rn, tmp_path):
    from core.errors import BadInputError
    from core.pipeline.extract import run_extraction

    assert not fast_decode.available("cpu")
    with pytest.raises(BadInputError, match="--decode gpu needs"):
        run_extraction(tiny_rn, tmp_path, tmp_path / "out", decode="gpu")


def test_whole_run_with_the_device_decoder_on_cpu(tiny_rn, jpegs, tmp_path, monkeypatch, one_torch_thread):
    """run_extraction(decode='gpu') with the decoder pointed at the CPU: JPEGs decoded by torchvision, the PNG by
    PIL, the truncated file skipped as the PIL path skips it; values within tolerance of decode='cpu'."""
    from core.pipeline.extract import run_extraction

    folder = jpegs[0].parent.parent
    Image.fromarray(photo(64, 48, 4)).save(folder / "a" / "b.png")
    data = jpegs[0].read_bytes()
    (folder / "a" / "cut.jpg").write_bytes(data[: len(data) // 3])
    monkeypatch.setattr(fast_decode, "available", lambda device: True)
    ref = run_extraction(tiny_rn, folder, tmp_path / "cpu", batch_size=3, workers=0)
    got = run_extraction(tiny_rn, folder, tmp_path / "gpu", batch_size=3, workers=1, decode="gpu")
    assert got.manifest["preprocess"]["decode"] == fast_decode.DESCRIPTION
    assert "decode" not in ref.manifest["preprocess"]
    assert got.keys == ref.keys and len(got.keys) == 5
    assert [s["key"] for s in got.skipped] == [s["key"] for s in ref.skipped] == ["a/cut.jpg"]
    assert [s["reason"] for s in got.skipped] == [s["reason"] for s in ref.skipped]
    a, b = np.asarray(ref.max, np.float32), np.asarray(got.max, np.float32)
    assert np.abs(a - b).max() <= 0.05 * np.abs(a).max()
    assert not np.array_equal(a, b)  # the JPEGs really went through torchvision's decoder and the tensor resize
    with pytest.raises(Exception, match="already holds"):  # a decode=cpu artifact is not reused for gpu
        run_extraction(tiny_rn, folder, tmp_path / "cpu", batch_size=3, workers=0, decode="gpu")


def test_uint8_feed_gives_the_same_pixels_as_the_model_preprocess(tiny_vit, tmp_path):
    spec = fast_decode.standard_transform(tiny_vit)
    crop = fast_decode.resize_crop_uint8(tiny_vit)
    for i, (w, h) in enumerate([(500, 375), (375, 500), (20, 30)]):
        rgba = (np.random.default_rng(i).random((h, w, 4)) * 255).astype(np.uint8)
        Image.fromarray(rgba).save(tmp_path / f"{i}.png")
        img = open_image(tmp_path / f"{i}.png")
        u8 = crop(img)
        assert u8.dtype == torch.uint8 and u8.shape == (3, tiny_vit.image_size, tiny_vit.image_size)
        assert torch.equal(fast_decode.normalize(u8[None], spec)[0], tiny_vit.preprocess(img))


def test_uint8_feed_run_is_byte_identical(tiny_rn, image_folder, tmp_path, monkeypatch, one_torch_thread):
    """The CUDA feed (uint8 crops through pinned memory, normalised on the device) run on CPU: same bytes."""
    import core.pipeline.extract as ex

    ref = ex.run_extraction(tiny_rn, image_folder, tmp_path / "ref", batch_size=5, workers=0)
    used = []
    monkeypatch.setattr(ex, "_uint8_feed", lambda loaded, g: used.append(1) or fast_decode.standard_transform(loaded))
    got = ex.run_extraction(tiny_rn, image_folder, tmp_path / "u8", batch_size=5, workers=1)
    assert used
    for name in ("max.f16.npy", "argmax.u16.npy", "mean.f16.npy", "emb.f16.npy", "top_max.i32.npy"):
        assert (ref.path / name).read_bytes() == (got.path / name).read_bytes(), name


def test_gpu_decode_batches_cross_processes_as_two_tensors():
    from core.pipeline.extract import _collate_raw, _unpack_raw

    jpeg_a, jpeg_b = torch.arange(5, dtype=torch.uint8), torch.arange(3, dtype=torch.uint8)
    pix = torch.ones(3, 4, 4)
    rows, packed, problems = _collate_raw([(7, jpeg_a, None), (8, pix, None), (9, jpeg_b, ("truncated", "x"))])
    blob, _, stacked = packed
    assert rows == [7, 8, 9] and problems[2] == ("truncated", "x") and blob.numel() == 8 and stacked.shape[0] == 1
    items = _unpack_raw(packed)
    assert torch.equal(items[0], jpeg_a) and torch.equal(items[1], pix) and torch.equal(items[2], jpeg_b)

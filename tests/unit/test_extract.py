"""Extraction: row alignment, reductions, top-k and stats, bad files, resume after interruption and kill -9."""
from __future__ import annotations

import io
import json
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.errors import ArtifactError, ArtifactMismatchError
from core.model.hooks import capture, reduce_positions
from core.pipeline.extract import run_extraction
from core.pipeline.images import open_image
from core.pipeline.layout import ARRAYS, PARTIAL_DIR
from core.pipeline.store import open_artifact
from tests.conftest import make_image_folder

REPO = Path(__file__).resolve().parents[2]


def assert_same_artifact(a, b):
    """Byte-equal arrays and identical row metadata."""
    for fname, _ in ARRAYS.values():
        x, y = np.load(a.path / fname), np.load(b.path / fname)
        assert x.dtype == y.dtype and np.array_equal(x, y), fname
    assert a.keys == b.keys and a.labels == b.labels and a.skipped == b.skipped


def test_rows_match_single_image_forward(tiny_rn, image_folder, tmp_path):
    art = run_extraction(tiny_rn, image_folder, tmp_path / "art", batch_size=5, workers=0, topk=4)
    assert art.rows == 12 and art.units == 256 and art.grid == (2, 2)
    assert art.max.shape == art.mean.shape == art.argmax.shape == (12, 256)
    assert art.max.dtype == np.float16 and art.argmax.dtype == np.uint16
    assert art.keys == sorted(art.keys) and art.keys[0] == "boat/0.png" and art.labels[0] == "boat"
    layer = art.layer
    for row in (0, 7, 11):
        pixels = tiny_rn.preprocess(open_image(image_folder / art.keys[row])).unsqueeze(0)
        with torch.inference_mode(), capture(tiny_rn, [layer]) as acts:
            emb = torch.nn.functional.normalize(tiny_rn.model.encode_image(pixels), dim=-1)
        mx, arg, mean = reduce_positions(acts[layer])
        np.testing.assert_allclose(art.max[row].astype(np.float32), mx[0].numpy(), rtol=2e-3, atol=1e-6)
        np.testing.assert_allclose(art.mean[row].astype(np.float32), mean[0].numpy(), rtol=2e-3, atol=1e-6)
        np.testing.assert_allclose(art.embeddings[row].astype(np.float32), emb[0].numpy(), atol=2e-3)
        flat = acts[layer][0].flatten(1)  # (C, H*W): the value at the stored argmax is the max
        at_arg = flat.gather(1, torch.from_numpy(art.argmax[row].astype(np.int64))[:, None])[:, 0]
        np.testing.assert_allclose(at_arg.numpy(), mx[0].numpy(), rtol=1e-6)
    assert art.manifest["model_id"] == tiny_rn.id and art.manifest["fingerprint"] == tiny_rn.fingerprint
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in tiny_rn.model.modules())  # no hook left
    assert {"open_clip", "torch"} <= set(art.manifest["versions"]) and art.manifest["preprocess"]["image_size"] == 64


def test_topk_and_stats_match_brute_force(tiny_rn, image_folder, tmp_path):
    art = run_extraction(tiny_rn, image_folder, tmp_path / "art", batch_size=4, workers=0, topk=5, chunk_rows=5)
    for stat in ("max", "mean"):
        vals = art.stat(stat).astype(np.float32)
        for unit in (0, 17, 255):
            col = vals[:, unit]
            want_top = np.lexsort((np.arange(len(col)), -col))
            want_bottom = np.lexsort((np.arange(len(col)), col))
            assert list(art.top_rows(unit, 5, stat)) == list(want_top[:5])
            assert list(art.bottom_rows(unit, 5, stat)) == list(want_bottom[:5])
            assert list(art.top_rows(unit, 9, stat)) == list(want_top[:9])  # beyond the precomputed k
        mean, std = art.unit_stats(stat)
        np.testing.assert_allclose(mean, vals.mean(0), rtol=1e-4, atol=1e-9)
        np.testing.assert_allclose(std, vals.std(0), rtol=1e-3, atol=1e-9)


def test_vit_extraction_uses_tokens(tiny_vit, image_folder, tmp_path):
    art = run_extraction(tiny_vit, image_folder, tmp_path / "vit", batch_size=8, workers=0)
    assert art.layer == "visual.transformer.resblocks.1.mlp.gelu"
    assert art.units == 64 and art.manifest["positions"] == 17 and art.grid == (4, 4)
    assert int(art.argmax.max()) < 17 and art.embeddings.shape == (12, 16)


def test_workers_give_identical_bytes(tiny_rn, image_folder, tmp_path):
    a = run_extraction(tiny_rn, image_folder, tmp_path / "w0", batch_size=4, workers=0)
    b = run_extraction(tiny_rn, image_folder, tmp_path / "w2", batch_size=4, workers=2)
    assert_same_artifact(a, b)


def test_rerun_of_complete_artifact_is_a_noop_and_other_collection_is_refused(tiny_rn, image_folder, tmp_path):
    out = tmp_path / "art"
    run_extraction(tiny_rn, image_folder, out, workers=0)
    stamp = (out / "max.f16.npy").stat().st_mtime_ns
    calls = []
    run_extraction(tiny_rn, image_folder, out, workers=0, progress=lambda d, n: calls.append((d, n)))
    assert (out / "max.f16.npy").stat().st_mtime_ns == stamp and calls == [(12, 12)]
    other = make_image_folder(tmp_path / "other", n_per_class=2, seed=3)
    with pytest.raises(ArtifactMismatchError, match="--overwrite"):
        run_extraction(tiny_rn, other, out, workers=0)
    assert open_artifact(out).rows == 12  # the existing work is untouched
    assert run_extraction(tiny_rn, other, out, workers=0, overwrite=True).rows == 6


# ---------------------------------------------------------------- bad files

def _png_with_size(width: int, height: int) -> bytes:
    """A tiny valid PNG whose header claims ``width x height`` (a decompression bomb's header)."""
    buf = io.BytesIO()
    Image.new("1", (8, 8)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    ihdr = 8 + 8  # signature, then length + type of the IHDR chunk
    data[ihdr:ihdr + 8] = struct.pack(">II", width, height)
    data[ihdr + 13:ihdr + 17] = struct.pack(">I", zlib.crc32(bytes(data[ihdr - 4:ihdr + 13])))
    return bytes(data)


def _asymmetric(w: int, h: int) -> Image.Image:
    arr = np.zeros((h, w, 3), np.uint8)
    arr[: h // 3, :, 0] = 255  # red band on top, green on the left
    arr[:, : w // 4, 1] = 255
    return Image.fromarray(arr)


def make_bad_corpus(root: Path) -> dict[str, str | None]:
    """Write the bad-file corpus; returns key -> expected outcome (None = loads, else 'skipped')."""
    (root / "odd").mkdir(parents=True)
    (root / "café").mkdir()
    ok = _asymmetric(40, 24)
    ok.save(root / "odd" / "ok.png")
    jpg = io.BytesIO()
    ok.save(jpg, format="JPEG")
    png = io.BytesIO()
    _asymmetric(64, 64).save(png, format="PNG")
    (root / "odd" / "corrupt.jpg").write_bytes(os.urandom(2000))
    (root / "odd" / "truncated.jpg").write_bytes(jpg.getvalue()[: len(jpg.getvalue()) // 2])
    (root / "odd" / "truncated.png").write_bytes(png.getvalue()[: len(png.getvalue()) // 2])
    (root / "odd" / "text.jpg").write_text("this is not an image\n")
    (root / "odd" / "empty.png").write_bytes(b"")
    (root / "odd" / "bomb.png").write_bytes(_png_with_size(10_000, 9_000))  # 90 MP, just over the limit
    (root / "odd" / "huge_bomb.png").write_bytes(_png_with_size(30_000, 30_000))  # Pillow's own hard limit
    ok.convert("CMYK").save(root / "odd" / "cmyk.jpg")
    Image.fromarray((np.arange(40 * 24).reshape(24, 40) * 60).astype(np.uint16)).save(root / "odd" / "deep16.png")
    pal = ok.convert("P")
    pal.info["transparency"] = 0
    pal.save(root / "odd" / "palette_alpha.png", transparency=0)
    ok.convert("RGBA").save(root / "odd" / "rgba.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW to view
    ok.transpose(Image.Transpose.ROTATE_90).save(root / "odd" / "exif_rotated.png", exif=exif.tobytes())
    ok.save(root / "café" / "ünïcode 猫.png")
    (root / "odd" / "notes.txt").write_text("ignored: not an image suffix")
    loads = ["odd/ok.png", "odd/cmyk.jpg", "odd/deep16.png", "odd/palette_alpha.png", "odd/rgba.png",
             "odd/exif_rotated.png", "café/ünïcode 猫.png"]
    skips = ["odd/corrupt.jpg", "odd/truncated.jpg", "odd/truncated.png", "odd/text.jpg", "odd/empty.png",
             "odd/bomb.png", "odd/huge_bomb.png"]
    return {**{k: None for k in loads}, **{k: "skipped" for k in skips}}


def test_bad_file_corpus_never_stops_a_run(tiny_rn, tmp_path):
    expected = make_bad_corpus(tmp_path / "bad")
    assert open_image(tmp_path / "bad" / "odd" / "exif_rotated.png").size == (40, 24)  # loaded upright
    art = run_extraction(tiny_rn, tmp_path / "bad", tmp_path / "art", batch_size=3, workers=2)
    loaded = sorted(k for k, v in expected.items() if v is None)
    assert art.keys == loaded
    skipped = {s["key"]: s for s in art.skipped}
    assert set(skipped) == {k for k, v in expected.items() if v}
    assert skipped["odd/bomb.png"]["reason"] == "too-large" and skipped["odd/huge_bomb.png"]["reason"] == "too-large"
    assert skipped["odd/text.jpg"]["reason"] == "not-an-image"
    assert skipped["odd/truncated.jpg"]["reason"] in {"truncated", "decode-error"}
    assert all(s["message"] for s in art.skipped)
    assert art.manifest["skipped"] == 7 and art.labels[art.keys.index("café/ünïcode 猫.png")] == "café"
    assert json.loads((art.path / "skipped.json").read_text(encoding="utf-8")) == art.skipped
    # EXIF-rotated file == the same picture stored upright; the palette/alpha/16-bit files all produced rows
    ok, rot = art.keys.index("odd/ok.png"), art.keys.index("odd/exif_rotated.png")
    np.testing.assert_allclose(art.max[rot].astype(np.float32), art.max[ok].astype(np.float32), rtol=1e-2, atol=1e-6)
    assert art.image_path(art.keys.index("café/ünïcode 猫.png")).is_file()
    assert np.isfinite(art.max.astype(np.float32)).all()


# ---------------------------------------------------------------- interruption and resume

class _Crash(Exception):
    pass


def test_interrupted_run_refuses_to_load_then_resumes_to_identical_bytes(tiny_rn, image_folder, tmp_path):
    ref = run_extraction(tiny_rn, image_folder, tmp_path / "ref", batch_size=2, workers=0, chunk_rows=4)

    def crash_after_two_chunks(done, total):
        if done >= 8:
            raise _Crash()

    out = tmp_path / "run"
    with pytest.raises(_Crash):
        run_extraction(tiny_rn, image_folder, out, batch_size=2, workers=0, chunk_rows=4,
                       progress=crash_after_two_chunks)
    with pytest.raises(ArtifactError, match="rerun the same command to resume"):
        open_artifact(out)
    seen = []
    resumed = run_extraction(tiny_rn, image_folder, out, batch_size=2, workers=0, chunk_rows=4,
                             progress=lambda d, n: seen.append(d))
    assert seen[0] == 8  # two committed chunks were not recomputed
    assert_same_artifact(ref, resumed)
    assert not (out / PARTIAL_DIR).exists()


def test_crash_during_finalize_never_leaves_a_valid_looking_artifact(tiny_rn, image_folder, tmp_path, monkeypatch):
    ref = run_extraction(tiny_rn, image_folder, tmp_path / "ref", workers=0, chunk_rows=4)
    import core.pipeline.partial as partial

    def boom(*a, **k):
        raise _Crash()

    out = tmp_path / "run"
    monkeypatch.setattr(partial, "_manifest", boom)  # dies after every data file is written, before the commit
    with pytest.raises(_Crash):
        run_extraction(tiny_rn, image_folder, out, workers=0, chunk_rows=4)
    with pytest.raises(ArtifactError, match="rerun the same command"):
        open_artifact(out)
    monkeypatch.undo()
    assert_same_artifact(ref, run_extraction(tiny_rn, image_folder, out, workers=0, chunk_rows=4))


def test_changed_settings_do_not_silently_mix_with_an_unfinished_run(tiny_rn, tiny_vit, image_folder, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(_Crash):
        run_extraction(tiny_rn, image_folder, out, workers=0, chunk_rows=4, batch_size=4,
                       progress=lambda d, n: (_ for _ in ()).throw(_Crash()) if d >= 4 else None)
    with pytest.raises(ArtifactMismatchError, match="unfinished run"):
        run_extraction(tiny_vit, image_folder, out, workers=0, chunk_rows=4)
    assert run_extraction(tiny_vit, image_folder, out, workers=0, overwrite=True).model_id == tiny_vit.id


_CLI = ("import sys; sys.path.insert(0, {repo!r}); from tests.conftest import register_tiny_configs; "
        "register_tiny_configs(); from core.cli import main; sys.exit(main(sys.argv[1:]))")


def _cli(args: list[str]) -> subprocess.Popen:
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-c", _CLI.format(repo=str(REPO)), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def test_kill_9_mid_run_then_rerun_equals_uninterrupted_run(tiny_rn, tmp_path):
    images = make_image_folder(tmp_path / "images", n_per_class=12, size=96)
    args = ["index", "--model", "tiny-rn/random", "--images", str(images), "--batch-size", "2",
            "--workers", "1", "--chunk-rows", "4", "--no-progress"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same thread count as the CLI runs (OMP_NUM_THREADS=1): same kernels, same bits
    try:
        ref = run_extraction(tiny_rn, images, tmp_path / "ref", batch_size=2, workers=0, chunk_rows=4, topk=64)
    finally:
        torch.set_num_threads(threads)
    out = tmp_path / "killed"
    state = out / PARTIAL_DIR / "state.json"
    for _attempt in range(3):
        proc = _cli([*args, "--out", str(out), "--overwrite"])
        killed = False
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                if len(json.loads(state.read_text())["done"]) >= 2:
                    os.killpg(proc.pid, signal.SIGKILL)  # kill -9 the CLI and its decoding worker
                    killed = True
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.002)
        proc.wait(timeout=60)
        if killed and not (out / "manifest.json").exists():
            break
    else:
        pytest.fail("could not kill the extraction mid-run in 3 attempts")
    assert proc.returncode == -signal.SIGKILL
    with pytest.raises(ArtifactError, match="rerun the same command to resume"):
        open_artifact(out)
    rerun = _cli([*args, "--out", str(out)])
    stdout, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stderr.decode()
    assert_same_artifact(ref, open_artifact(out))
    assert (out / "index.faiss").is_file()

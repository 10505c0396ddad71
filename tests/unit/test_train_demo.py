"""scripts/train_demo_model.py: seeded batches, deterministic and resumable training (tiny runs)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

import train_demo_model as train  # noqa: E402


@pytest.fixture
def threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _args(tmp, name, *extra):
    return train.parse_args(["--steps", "3", "--batch-size", "16", "--ckpt-every", "2", "--eval-every", "100",
                             "--threads", "1", "--workdir", str(tmp / name / "work"), "--out", str(tmp / name / "out"),
                             *extra])


def _tensors_and_metadata(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata()


def test_batches_depend_only_on_seed_and_step(tmp_path):
    batcher = train.Batcher(_args(tmp_path, "b"))
    x1, cap1, con1 = batcher.batch(5)
    x2, cap2, con2 = batcher.batch(5)
    x3, _, _ = batcher.batch(6)
    assert torch.equal(x1, x2) and cap1 == cap2 and con1 == con2
    assert not torch.equal(x1, x3)
    assert x1.shape == (16, 3, 64, 64)
    word_captions = {t.format(w) for t in train.WORD_TEMPLATES
                     for w in list(train.CATEGORIES) + batcher.object_words}
    assert all(c in word_captions for c in cap1[8:]), "the second half is rendered words"
    assert not any(c in word_captions for c in cap1[:8]), "the first half is clip art"


def test_training_is_deterministic_and_resumable(tmp_path, threads):
    train.train(_args(tmp_path, "a"))
    train.train(_args(tmp_path, "b", "--stop-after", "2"))  # interrupted after step 2 (checkpoint)...
    train.train(_args(tmp_path, "b"))  # ...then resumed by rerunning the same command
    a, b = (_tensors_and_metadata(tmp_path / run / "out" / "weights.safetensors") for run in ("a", "b"))
    assert a[1] == b[1] == {"format": "pt", "model_id": "demo"}
    assert a[0].keys() == b[0].keys() and len(a[0]) > 10
    for name, t in a[0].items():  # bit-identical tensors (not file bytes: safetensors writes metadata in hash order)
        assert t.dtype == b[0][name].dtype and t.reshape(-1).view(torch.uint8).equal(b[0][name].reshape(-1).view(torch.uint8)), name
    assert (tmp_path / "a" / "out" / "config.json").is_file()


def test_batches_made_by_worker_processes_train_the_same_model(tmp_path, threads):
    """--workers (for a GPU run) makes the same batches in other processes: bit-identical weights, and the
    device and worker count may change when a run is resumed."""
    train.train(_args(tmp_path, "a"))
    train.train(_args(tmp_path, "w", "--workers", "2", "--stop-after", "2"))
    train.train(_args(tmp_path, "w", "--workers", "0"))
    a, w = (_tensors_and_metadata(tmp_path / run / "out" / "weights.safetensors")[0] for run in ("a", "w"))
    for name, t in a.items():
        assert t.reshape(-1).view(torch.uint8).equal(w[name].reshape(-1).view(torch.uint8)), name
    cfg = json.loads((tmp_path / "w" / "out" / "train_config.json").read_text())
    assert cfg["device"] == "cpu" and cfg["workers"] == 0


def test_conflict_stickers_caption_pictures_as_the_written_word(tmp_path):
    """--conflict 1: every labelled picture carries another category's word and is counted as that word."""
    args = _args(tmp_path, "c", "--conflict", "1", "--overlay", "0", "--label-area-start", "0.2,0.3",
                 "--label-area", "0.05,0.1")
    batcher = train.Batcher(args)
    plain = train.Batcher(_args(tmp_path, "p"))
    seen = 0
    for step in range(3):
        x, captions, concepts = batcher.batch(step)
        x0, _, _ = plain.batch(step)
        for cap, con in zip(captions[:8], concepts[:8]):
            if not con.startswith("obj:"):
                seen += 1
                assert con in train.CATEGORIES and cap in {t.format(con) for t in train.WORD_TEMPLATES}
        assert not torch.equal(x[:8], x0[:8]), "stickers change the pictures"
    assert seen > 0
    assert train._area_range(0, args) == (0.2, 0.3)
    assert train._area_range(args.steps, args) == pytest.approx((0.05, 0.1))  # the curriculum ends at --label-area by mid-run


def test_neutral_stickers_keep_the_pictures_caption(tmp_path):
    """--neutral 1: every labelled picture carries an unrelated word (never an evaluation control word) and keeps
    its own concept and a picture caption."""
    from core.analyses.evaluate import NEUTRAL_WORDS

    vocab = train.neutral_vocabulary()
    assert len(vocab) > 1000 and not set(vocab) & (set(NEUTRAL_WORDS) | set(train.CATEGORIES))
    batcher = train.Batcher(_args(tmp_path, "n", "--neutral", "1", "--overlay", "0"))
    plain = train.Batcher(_args(tmp_path, "p", "--overlay", "0"))
    x, captions, concepts = batcher.batch(0)
    x0, captions0, concepts0 = plain.batch(0)
    assert concepts[:8] == concepts0[:8], "an unrelated word does not change what the picture is"
    assert not torch.equal(x[:8], x0[:8])
    assert not any(c in {t.format(w) for t in train.WORD_TEMPLATES for w in train.CATEGORIES} for c in captions[:8])
    by_length = train.Batcher(_args(tmp_path, "l", "--neutral", "1", "--neutral-by-length"))
    rng = np.random.default_rng(0)
    lengths = [len(by_length._neutral_word(rng)) for _ in range(700)]
    assert min(lengths) == 2 and lengths.count(2) > 50, "short words as often as any other length"
    near = train.near_category_words()
    assert "cap" in near["cat"] and "coat" in near["boat"] and "cat" not in near["hat"]
    assert all(len(words) >= 10 for words in near.values())


def test_sparsity_pressure_trains_with_finite_weights(tmp_path):
    args = _args(tmp_path, "l1", "--l1", "1.0", "--steps", "2")
    train.train(args)
    tensors, _ = _tensors_and_metadata(tmp_path / "l1" / "out" / "weights.safetensors")
    assert all(torch.isfinite(t.float()).all() for t in tensors.values())
    cfg = json.loads((tmp_path / "l1" / "out" / "train_config.json").read_text())
    assert cfg["l1"] == 1.0 and cfg["neutral"] == 0.0


def test_larger_input_exports_a_matching_config(tmp_path, threads):
    train.train(_args(tmp_path, "r96", "--image-size", "96", "--steps", "1"))
    cfg = json.loads((tmp_path / "r96" / "out" / "config.json").read_text())
    assert cfg["vision_cfg"]["image_size"] == 96
    tensors, _ = _tensors_and_metadata(tmp_path / "r96" / "out" / "weights.safetensors")
    assert tensors["visual.attnpool.positional_embedding"].shape[0] == (96 // 32) ** 2 + 1  # a 3 x 3 grid + 1

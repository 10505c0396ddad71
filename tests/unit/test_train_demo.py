"""scripts/train_demo_model.py: seeded batches, deterministic and resumable training (tiny runs)."""
from __future__ import annotations

import sys
from pathlib import Path

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
    a = (tmp_path / "a" / "out" / "weights.safetensors").read_bytes()
    b = (tmp_path / "b" / "out" / "weights.safetensors").read_bytes()
    assert a == b
    assert (tmp_path / "a" / "out" / "config.json").is_file()

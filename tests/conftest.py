"""Shared fixtures: tiny real open_clip architectures (random init) and generated image folders."""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
from PIL import Image

TINY_RN = "tiny-rn"
TINY_VIT = "tiny-vit"
TINY_TEXT = {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}
TINY_CONFIGS = {
    TINY_RN: {"embed_dim": 16, "vision_cfg": {"image_size": 64, "layers": [1, 1, 1, 1], "width": 8,
                                              "patch_size": None}, "text_cfg": TINY_TEXT},
    TINY_VIT: {"embed_dim": 16, "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "patch_size": 8,
                                               "head_width": 16, "mlp_ratio": 2.0}, "text_cfg": TINY_TEXT},
}


def register_tiny_configs() -> None:
    from core.model.loading import register_config

    for name, cfg in TINY_CONFIGS.items():
        register_config(name, cfg)


@pytest.fixture(scope="session")
def tiny_rn():
    """A tiny ModifiedResNet CLIP (attention pool; 4 stages of 1 block; 64 px), random init, seeded."""
    register_tiny_configs()
    from core.model.loading import load_model

    return load_model(f"{TINY_RN}/random")


@pytest.fixture(scope="session")
def tiny_vit():
    """A tiny ViT CLIP (2 blocks, width 32, 32 px), random init, seeded."""
    register_tiny_configs()
    from core.model.loading import load_model

    return load_model(f"{TINY_VIT}/random")


def make_image_folder(root, n_per_class: int = 4, classes=("cat", "dog", "boat"), size=48, seed=0):
    """Write a folder tree root/<class>/<i>.png of simple coloured shapes; returns the root."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for ci, cls in enumerate(classes):
        (root / cls).mkdir(exist_ok=True)
        for i in range(n_per_class):
            arr = np.full((size, size, 3), 255, np.uint8)
            c = rng.integers(0, 255, 3)
            x0, y0 = rng.integers(0, size // 2, 2)
            arr[y0:y0 + size // 2, x0:x0 + size // 2] = c
            arr[..., ci] = np.maximum(arr[..., ci], 128)
            Image.fromarray(arr).save(root / cls / f"{i}.png")
    return root


@pytest.fixture
def one_torch_thread():
    """Tiny models run fastest on one thread; two threads on a busy 2-core box can be 40x slower."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def image_folder(tmp_path):
    """A small labelled image folder (3 classes x 4 images)."""
    return make_image_folder(tmp_path / "images")

"""The article's model at full scale, offline: RN50x4 (2,560 units at the article's layer, 288 px) with seeded random
weights saved as a real checkpoint file, and a small labelled collection indexed with it.

Both are built once and cached under the git-ignored artifacts folder (``artifacts/test-cache/<VERSION>/``), keyed by
``VERSION``: bump it when what is built here changes. A clean clone builds them on first use (a minute or so on a
2-core CPU); later runs reuse them. Builds are serialised by a file lock, so parallel test processes share one build.
"""
from __future__ import annotations

import os
from pathlib import Path

from core.config import REPO_ROOT

VERSION = "rn50x4-v1"
ARCH = "RN50x4"
UNITS = 2560
IMAGE_SIZE = 288
ARTICLE_LAYER_PREFIX = "visual.layer4.5."
CACHE = Path(os.environ.get("CLIP_EXPLORER_TEST_CACHE") or REPO_ROOT / "artifacts" / "test-cache") / VERSION
CLASSES = ("animal", "flag", "fruit", "vehicle")
PER_CLASS = 4
CALIBRATION = 12  # demo-corpus pictures (of other classes) that set the BatchNorm statistics
COLLECTION = "rn50x4-small"  # the indexed collection's name (its artifact folder's name)


def _lock(name: str):
    from filelock import FileLock

    CACHE.mkdir(parents=True, exist_ok=True)
    return FileLock(str(CACHE / f".{name}.lock"), timeout=1800)


def checkpoint() -> Path:
    """``RN50x4-random.safetensors``: open_clip's RN50x4, seeded random init, stored as float16 (half the size; loaded
    into float32). Its BatchNorm layers are randomised like a trained network's: random affine parameters (a fresh
    init zeroes each block's last BN scale, so every residual branch would vanish) and running statistics measured
    on ``CALIBRATION`` demo-corpus pictures (with identity statistics the activations blow up through 33 blocks and
    every picture gets the same embedding)."""
    path = CACHE / "RN50x4-random.safetensors"
    if path.is_file():
        return path
    with _lock("checkpoint"):
        if path.is_file():
            return path
        import open_clip
        import torch
        from safetensors.torch import save_file

        from core.model.preprocess import eval_transform
        from core.pipeline.demo import load_corpus_image, load_corpus_index

        torch.manual_seed(1234)
        model = open_clip.create_model(ARCH, pretrained=None)
        g = torch.Generator().manual_seed(4321)
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                n = mod.num_features
                mod.weight.data.copy_(0.5 + 0.5 * torch.rand(n, generator=g))
                mod.bias.data.copy_(0.1 * torch.randn(n, generator=g))
                mod.reset_running_stats()
                mod.momentum = None  # a cumulative average: one pass sets the statistics of its batch
        df = load_corpus_index()
        ids = sorted(df.loc[~df["label"].isin(CLASSES)].groupby("label")["id"].first())[:CALIBRATION]
        tf = eval_transform(model)
        pixels = torch.stack([tf(load_corpus_image(i).convert("RGB")) for i in ids])
        model.visual.train()
        with torch.no_grad():
            model.visual(pixels)
        model.eval()
        state = {k: v.detach().to(torch.float16).contiguous() if v.is_floating_point() else v.contiguous()
                 for k, v in model.state_dict().items()}
        tmp = path.with_suffix(".tmp")
        save_file(state, str(tmp))
        tmp.replace(path)
    return path


def model_id() -> str:
    """``RN50x4@<the cached checkpoint>`` (the checkpoint is built on first use)."""
    return f"{ARCH}@{checkpoint()}"


def images() -> Path:
    """A labelled folder ``images/<class>/<id>.png``: the first ``PER_CLASS`` pictures of each of ``CLASSES`` in the
    embedded demo corpus."""
    root = CACHE / "images"
    done = root / ".complete"
    if done.is_file():
        return root
    with _lock("images"):
        if done.is_file():
            return root
        from core.pipeline.demo import load_corpus_image, load_corpus_index

        df = load_corpus_index()
        for cls in CLASSES:
            ids = sorted(df.loc[df["label"] == cls, "id"])[:PER_CLASS]
            (root / cls).mkdir(parents=True, exist_ok=True)
            for image_id in ids:
                load_corpus_image(image_id).convert("RGB").save(root / cls / f"{image_id}.png")
        done.write_text(VERSION)
    return root


def index_dir() -> Path:
    """Where the collection's index is cached (a complete artifact once ``index`` ran)."""
    return CACHE / "indexes" / COLLECTION


def index(loaded=None) -> Path:
    """The artifact of ``images()`` at the article's layer with its FAISS index (built on first use)."""
    from core.errors import ArtifactError, ArtifactMismatchError
    from core.pipeline.index import ensure_index, load_index
    from core.pipeline.store import open_artifact

    out = index_dir()
    if loaded is None:
        from core.model.loading import load_model

        loaded = load_model(model_id())
    with _lock("index"):
        try:
            load_index(open_artifact(out, expect=loaded))
            return out
        except (ArtifactError, ArtifactMismatchError):
            pass
        from core.pipeline.extract import run_extraction

        art = run_extraction(loaded, images(), out, batch_size=8, workers=0, overwrite=True)
        ensure_index(art)
    return out

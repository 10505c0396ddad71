"""Facets for faceted feature visualization (paper-methods §2.2): linear probes on an earlier layer.

A facet is a logistic-regression probe (theme vs everything else) on the spatially pooled
activations of an earlier layer (the last layer3 block output for ResNets). Shipped facets:
``text`` (rendered words vs demo-corpus pictures) and one per demo-corpus category
(``core.pipeline.demo.CATEGORIES``: that label vs the other labels). Features and probes are cached on disk
under ``<artifacts>/featurevis/facets/<model fingerprint>/``. No streamlit.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from core.config import get_settings
from core.errors import BadInputError, with_suggestions
from core.featurevis.objectives import Objective, as_objective, faceted
from core.files import atomic_write_bytes, write_json_atomic
from core.model.hooks import capture, list_layers

if TYPE_CHECKING:
    from core.model.loading import LoadedModel

logger = logging.getLogger(__name__)

TEXT_FACET = "text"
FEATURES_VERSION = 1
# Pool of images the probes are trained on (per label / per text class, train and held-out splits).
PER_LABEL = {"train": 40, "test": 12}
WORDS = {"train": 300, "test": 100}

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class FacetProbe:
    """A trained facet probe.

    Attributes:
        name: facet name (``text`` or a category).
        layer: the layer whose pooled activations it reads.
        weights: (C,) direction in raw activation space, scaled to unit RMS.
        train_acc / test_acc: class-balanced accuracy on the training and held-out images.
        n_train / n_test: number of images (both classes).
    """

    name: str
    layer: str
    weights: np.ndarray
    train_acc: float
    test_acc: float
    n_train: int
    n_test: int


def facet_names() -> list[str]:
    """All facets this build ships: ``text`` plus the demo corpus categories."""
    from core.pipeline.demo import CATEGORIES

    return [TEXT_FACET, *CATEGORIES]


def facet_layer(loaded: LoadedModel) -> str:
    """The probe layer: last layer3 block output (ResNet) or the residual stream at 2/3 depth (ViT)."""
    layers = list_layers(loaded)
    blocks = [li for li in layers if li.kind == "block" and li.module.startswith("visual.layer3.")]
    if blocks:
        return blocks[-1].id
    resid = [li for li in layers if li.kind == "resid"]
    if resid:
        return resid[(2 * len(resid)) // 3 - 1 if len(resid) > 1 else 0].id
    raise BadInputError("This model has no layer suitable for facet probes (need a ResNet or ViT image tower).")


def _facet_dir(loaded: LoadedModel) -> Path:
    return get_settings().artifacts_dir / "featurevis" / "facets" / loaded.fingerprint


def _image_pool(image_size: int, seed: int = 0):
    """(images, kinds, labels, splits): corpus pictures (stratified sample) plus rendered words."""
    from core.analyses.raster import render_word
    from core.analyses.words import load_vocabulary
    from core.pipeline.demo import load_corpus_image, load_corpus_index

    df = load_corpus_index()
    rng = np.random.default_rng(seed)
    rows = []
    for (label, split), grp in df.groupby(["label", "split"], sort=True):
        cap = PER_LABEL.get(split, 0)
        take = grp.iloc[rng.permutation(len(grp))[:cap]]
        rows += [(r.id, label, split) for r in take.itertuples()]
    images = [load_corpus_image(i) for i, _, _ in rows]
    kinds, labels, splits = ["picture"] * len(rows), [lab for _, lab, _ in rows], [s for _, _, s in rows]
    vocab = load_vocabulary()[:5000]
    words = rng.permutation(vocab)[: WORDS["train"] + WORDS["test"]]
    for k, word in enumerate(words):
        images.append(render_word(str(word), size=image_size, rng=rng))
        kinds.append("text")
        labels.append("")
        splits.append("train" if k < WORDS["train"] else "test")
    return images, np.array(kinds), np.array(labels), np.array(splits)


@torch.inference_mode()
def pooled_features(loaded: LoadedModel, layer: str, images, *, batch_size: int = 64,
                    progress: Progress | None = None) -> np.ndarray:
    """Spatially pooled activations (N, C) float32 of ``layer`` for PIL images."""
    from core.model.embed import preprocess_batch

    out = []
    for i in range(0, len(images), batch_size):
        pixels = preprocess_batch(loaded, images[i:i + batch_size]).to(loaded.device)
        with capture(loaded, [layer]) as acts:
            loaded.model.encode_image(pixels)
        a = acts[layer]
        out.append((a.mean(dim=(2, 3)) if a.dim() == 4 else a.mean(dim=1)).float().cpu().numpy())
        if progress:
            progress(min(i + batch_size, len(images)), len(images))
    return np.concatenate(out)


def facet_features(loaded: LoadedModel, *, progress: Progress | None = None) -> dict[str, np.ndarray]:
    """The probe training pool's features for this model, computed once and cached on disk."""
    layer = facet_layer(loaded)
    path = _facet_dir(loaded) / f"features-v{FEATURES_VERSION}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            if str(z["layer"]) == layer:
                return {k: z[k] for k in z.files}
    images, kinds, labels, splits = _image_pool(loaded.image_size)
    feats = pooled_features(loaded, layer, images, progress=progress)
    data = {"features": feats, "kinds": kinds, "labels": labels, "splits": splits, "layer": np.array(layer)}
    import io

    buf = io.BytesIO()
    np.savez(buf, **data)
    atomic_write_bytes(path, buf.getvalue())
    return data


def train_logistic(x: np.ndarray, y: np.ndarray, *, l2: float = 0.1, steps: int = 200) -> tuple[np.ndarray, float]:
    """Class-balanced L2 logistic regression (L-BFGS) on standardised features.

    Returns:
        (w, b) in the *raw* feature space: ``sigmoid(x @ w + b)`` is P(positive).
    """
    xt = torch.as_tensor(x, dtype=torch.float64)
    yt = torch.as_tensor(y, dtype=torch.float64)
    mu, sd = xt.mean(0), xt.std(0).clamp(min=1e-6)
    z = (xt - mu) / sd
    pos = yt.mean().clamp(1e-6, 1 - 1e-6)
    sample_w = torch.where(yt > 0, 0.5 / pos, 0.5 / (1 - pos))
    w = torch.zeros(z.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        logits = z @ w + b
        loss = (torch.nn.functional.binary_cross_entropy_with_logits(logits, yt, weight=sample_w)
                + l2 * (w * w).sum())
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    w_raw = (w.detach() / sd).numpy()
    b_raw = float(b.detach() - (w.detach() * mu / sd).sum())
    return w_raw, b_raw


def balanced_accuracy(x: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> float:
    """Mean of the per-class accuracies (chance = 0.5)."""
    pred = (x @ w + b) > 0
    accs = [float((pred[y == c] == bool(c)).mean()) for c in (0, 1) if (y == c).any()]
    return float(np.mean(accs))


def _targets(name: str, data: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(y, usable mask) for a facet over the pool."""
    kinds, labels = data["kinds"], data["labels"]
    if name == TEXT_FACET:
        return (kinds == "text").astype(np.float64), np.ones(len(kinds), bool)
    return (labels == name).astype(np.float64), kinds == "picture"


def _probe_path(loaded: LoadedModel, name: str) -> Path:
    return _facet_dir(loaded) / f"probe-{name}-v{FEATURES_VERSION}.json"


def probe_cached(loaded: LoadedModel, name: str) -> bool:
    """Whether the facet's probe for this model is already trained and on disk."""
    return _probe_path(loaded, name).is_file()


def train_facet(loaded: LoadedModel, name: str, *, progress: Progress | None = None) -> FacetProbe:
    """Train (or load from the cache) the probe of one facet.

    Raises:
        BadInputError: unknown facet name (lists the valid ones).
    """
    valid = facet_names()
    if name not in valid:
        raise BadInputError(with_suggestions(f"Unknown facet '{name}'.", name, valid))
    cache = _probe_path(loaded, name)
    if cache.is_file():
        d = json.loads(cache.read_text())
        return FacetProbe(**{**d, "weights": np.asarray(d["weights"], dtype=np.float32)})
    data = facet_features(loaded, progress=progress)
    y, usable = _targets(name, data)
    tr, te = usable & (data["splits"] == "train"), usable & (data["splits"] == "test")
    x = data["features"].astype(np.float64)
    w, b = train_logistic(x[tr], y[tr])
    probe = FacetProbe(name=name, layer=str(data["layer"]),
                       weights=(w / np.sqrt(np.mean(w * w) + 1e-12)).astype(np.float32),
                       train_acc=balanced_accuracy(x[tr], y[tr], w, b), test_acc=balanced_accuracy(x[te], y[te], w, b),
                       n_train=int(tr.sum()), n_test=int(te.sum()))
    write_json_atomic(cache, {**asdict(probe), "weights": probe.weights.tolist()})
    logger.info("facet %s: train %.3f, held-out %.3f balanced accuracy", name, probe.train_acc, probe.test_acc)
    return probe


def faceted_objective(loaded: LoadedModel, base: Objective | str, facet: str, *, strength: float | tuple[float, float] = 2.0,
                      progress: Progress | None = None) -> Objective:
    """``base`` plus the facet prior of the named facet (probe trained on first use)."""
    probe = train_facet(loaded, facet, progress=progress)
    return faceted(as_objective(base), probe.layer, torch.from_numpy(probe.weights), strength=strength, label=facet)

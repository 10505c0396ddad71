"""The analyses behind the neuron card: pure numpy/pandas/PIL functions, unit-tested without a UI.

Samples across the activation range by std-dev bucket, the activation histogram, similar neurons
(by text-direction cosine and by activation correlation), zero-shot labels from a phrase
vocabulary, and the geometry that outlines the most-activating cell on a dataset example.
Nothing here imports streamlit or torch.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageOps

from core.errors import BadInputError, UnitOutOfRangeError

logger = logging.getLogger(__name__)

VOCAB_FILE = Path(__file__).resolve().parent / "data" / "zero_shot_vocab.txt"
TILE_PX = 128  # the article's dataset-example tiles are 128 px
OUTLINE = (255, 140, 0)


def _check_unit(unit: int, units: int) -> None:
    if not 0 <= unit < units:
        raise UnitOutOfRangeError(f"Unit {unit} is out of range: valid units are 0..{units - 1}.")


def load_vocabulary(path: str | Path = VOCAB_FILE) -> list[str]:
    """The zero-shot labelling vocabulary: one phrase a line, '#' comments and duplicates dropped."""
    seen: dict[str, None] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        phrase = line.split("#", 1)[0].strip()
        if phrase:
            seen.setdefault(phrase, None)
    return list(seen)


def activation_std(values: np.ndarray) -> float:
    """Std-dev of a unit's activations over the collection (1.0 for a constant unit, never 0)."""
    std = float(np.asarray(values, dtype=np.float64).std())
    return std if std > 1e-12 else 1.0


def std_bucket_samples(values: np.ndarray, *, buckets: int = 8, per_bucket: int = 3, seed: int = 0,
                       std: float | None = None) -> pd.DataFrame:
    """Examples across a unit's whole activation range (the article's conditional-plot buckets).

    Buckets are uniformly spaced between the most inhibitory and the most excitatory value; from
    each, up to ``per_bucket`` rows are drawn with a seeded RNG (same inputs, same samples).

    Args:
        values: (N,) the unit's activation on every row of the collection.
        buckets: number of uniform buckets.
        per_bucket: rows sampled per bucket.
        seed: RNG seed.
        std: the unit's std (default: computed from ``values``).

    Returns:
        DataFrame[row, value, z, bucket, lo_z, hi_z] ordered by bucket then value; ``z`` and the bucket
        edges are in std-devs from zero, as on the article's x axes. Empty buckets contribute no rows.
    """
    values = np.asarray(values, dtype=np.float64)
    cols = ["row", "value", "z", "bucket", "lo_z", "hi_z"]
    if values.size == 0:
        return pd.DataFrame(columns=cols)
    sd = std if std and std > 0 else activation_std(values)
    edges = np.linspace(values.min(), values.max(), buckets + 1)
    which = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, buckets - 1)  # (N,)
    rng = np.random.default_rng(seed)
    parts = []
    for b in range(buckets):
        rows = np.flatnonzero(which == b)
        if rows.size == 0:
            continue
        pick = np.sort(rng.choice(rows, size=min(per_bucket, rows.size), replace=False))
        parts.append(pd.DataFrame({"row": pick, "value": values[pick], "bucket": b,
                                   "lo_z": edges[b] / sd, "hi_z": edges[b + 1] / sd}))
    out = pd.concat(parts, ignore_index=True)
    out["z"] = out["value"] / sd
    return out.sort_values(["bucket", "value"], ignore_index=True)[cols]


def activation_histogram(values: np.ndarray, *, bins: int = 40, std: float | None = None) -> pd.DataFrame:
    """Histogram of a unit's activations over the collection.

    Returns:
        DataFrame[lo, hi, count, lo_z, hi_z]: raw bin edges, counts, and edges in std-devs from zero.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return pd.DataFrame(columns=["lo", "hi", "count", "lo_z", "hi_z"])
    sd = std if std and std > 0 else activation_std(values)
    counts, edges = np.histogram(values, bins=bins)
    return pd.DataFrame({"lo": edges[:-1], "hi": edges[1:], "count": counts,
                         "lo_z": edges[:-1] / sd, "hi_z": edges[1:] / sd})


def similar_by_direction(directions: np.ndarray, unit: int, *, top: int = 8) -> pd.DataFrame:
    """Neurons whose text-space directions are closest to ``unit``'s (cosine).

    Args:
        directions: (C, D) each neuron's direction in the joint embedding space.
        unit: the reference neuron.
        top: how many to return (the unit itself excluded).

    Returns:
        DataFrame[unit, cosine] sorted by cosine, descending.
    """
    d = np.asarray(directions, dtype=np.float32)  # (C, D)
    _check_unit(unit, d.shape[0])
    norms = np.linalg.norm(d, axis=1)
    norms[norms < 1e-12] = 1.0
    cos = (d @ d[unit]) / (norms * norms[unit])  # (C,)
    return _top_others(cos, unit, top, "cosine")


def standardize(acts: np.ndarray) -> np.ndarray:
    """(N, C) float32 columns centred and scaled to unit std; constant columns become 0.

    Pearson correlation of every unit with unit ``u`` is then ``z.T @ z[:, u] / N``: computing ``z`` once per
    collection makes each neuron's similar-by-activation list one matrix-vector product.
    """
    a = np.asarray(acts, dtype=np.float32)
    centred = a - a.mean(axis=0)
    std = np.sqrt((centred ** 2).mean(axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = centred / std
    return np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32, copy=False)


def similar_by_correlation(acts: np.ndarray, unit: int, *, top: int = 8, standardized: bool = False) -> pd.DataFrame:
    """Neurons whose activations over the collection correlate most with ``unit``'s (Pearson).

    Args:
        acts: (N, C) per-image activations (e.g. the spatial max), N >= 2; or ``standardize(acts)`` when
            ``standardized`` is True.
        unit: the reference neuron.
        top: how many to return (the unit itself excluded).
        standardized: ``acts`` is already the output of ``standardize``.

    Returns:
        DataFrame[unit, correlation] sorted descending; constant units count as 0 correlation.
    """
    _check_unit(unit, np.shape(acts)[1])
    if np.shape(acts)[0] < 2:
        raise BadInputError("Activation correlation needs a collection of at least 2 images.")
    z = acts if standardized else standardize(acts)
    corr = (z.T @ z[:, unit]) / z.shape[0]  # (C,)
    return _top_others(np.asarray(corr, dtype=np.float64), unit, top, "correlation")


def _top_others(scores: np.ndarray, unit: int, top: int, name: str) -> pd.DataFrame:
    scores = np.asarray(scores, dtype=np.float64).copy()
    scores[unit] = -np.inf
    order = np.argsort(-scores, kind="stable")[: max(0, min(top, scores.size - 1))]
    return pd.DataFrame({"unit": order.astype(int), name: scores[order]})


def zero_shot_labels(direction: np.ndarray, phrase_embeddings: np.ndarray, phrases: Sequence[str], *,
                     top: int = 8) -> pd.DataFrame:
    """Phrases that best match a neuron's text direction (and those most opposed to it).

    Args:
        direction: (D,) the neuron's direction in the joint space (``W_img[:, n]``).
        phrase_embeddings: (P, D) L2-normalised text embeddings of ``phrases``.
        phrases: the P phrases.
        top: phrases per side.

    Returns:
        DataFrame[rank, phrase, score, side] with ``side`` "excites" (highest scores first) then
        "inhibits" (lowest first); score is the cosine between direction and phrase embedding.
    """
    emb = np.asarray(phrase_embeddings, dtype=np.float32)  # (P, D)
    if emb.shape[0] != len(phrases):
        raise BadInputError(f"{emb.shape[0]} phrase embeddings for {len(phrases)} phrases.")
    d = np.asarray(direction, dtype=np.float32)
    score = emb @ (d / max(float(np.linalg.norm(d)), 1e-12))  # (P,)
    order = np.argsort(-score, kind="stable")
    k = min(top, len(phrases))
    hi, lo = order[:k], order[::-1][:k]
    names = np.asarray(list(phrases), dtype=object)
    return pd.DataFrame({"rank": np.arange(2 * k), "phrase": np.concatenate([names[hi], names[lo]]),
                         "score": np.concatenate([score[hi], score[lo]]).astype(float),
                         "side": ["excites"] * k + ["inhibits"] * k})


def model_view(image: Image.Image, size: int = TILE_PX) -> Image.Image:
    """The square the model sees (shorter side resized, centre crop, as open_clip's eval transform)."""
    return ImageOps.fit(image.convert("RGB"), (size, size), method=Image.Resampling.BICUBIC, centering=(0.5, 0.5))


def cell_box(flat: int, grid: Sequence[int], size: int, *, offset: int = 0) -> tuple[int, int, int, int] | None:
    """Pixel box of an activation-grid cell on a ``size`` x ``size`` model-view tile.

    Args:
        flat: the flat argmax position (``h * W + w``; for token layers the token index).
        grid: (H, W) of the activation map.
        size: tile side in pixels.
        offset: leading positions that are not cells (1 for a ViT class token).

    Returns:
        (x0, y0, x1, y1), or None when the position is not a spatial cell (e.g. the class token).
    """
    h, w = int(grid[0]), int(grid[1])
    idx = int(flat) - offset
    if h <= 0 or w <= 0 or not 0 <= idx < h * w:
        return None
    r, c = divmod(idx, w)
    return (round(c * size / w), round(r * size / h), round((c + 1) * size / w) - 1, round((r + 1) * size / h) - 1)


def outlined_tile(image: Image.Image, flat: int | None, grid: Sequence[int] | None, *, size: int = TILE_PX,
                  offset: int = 0) -> Image.Image:
    """A dataset-example tile: the model's view of ``image`` with the most-activating cell outlined."""
    tile = model_view(image, size)
    box = cell_box(flat, grid, size, offset=offset) if flat is not None and grid else None
    if box is not None:
        ImageDraw.Draw(tile).rectangle(box, outline=OUTLINE, width=max(2, size // 64))
    return tile

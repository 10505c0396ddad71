"""The analyses behind the neuron card: pure numpy/pandas/PIL functions, unit-tested without a UI.

Samples across the activation range by std-dev bucket, the activation histogram, similar neurons
(by text-direction cosine and by activation correlation), zero-shot labels from a phrase
vocabulary, and the geometry that outlines the most-activating cell on a dataset example. ``build_card`` puts
them together for one unit of an indexed collection in one call (rows picked, tiles rendered and captioned), so a
neuron switch is a single cache lookup and the cards likely opened next can be built ahead.
Nothing here imports torch.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.analyses.tiles import Grid, grid
from core.config import DATA_DIR
from core.errors import BadInputError, UnitOutOfRangeError

if TYPE_CHECKING:
    from core.pipeline.store import Artifact

logger = logging.getLogger(__name__)

VOCAB_FILE = DATA_DIR / "zero_shot_vocab.txt"


def _check_unit(unit: int, units: int) -> None:
    if not 0 <= unit < units:
        raise UnitOutOfRangeError(f"Unit {unit} is out of range: valid units are 0..{units - 1}.")


def load_label_phrases(path: str | Path = VOCAB_FILE) -> list[str]:
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


# ---------------------------------------------------------------- one unit's card over a collection ----------------
@dataclass(frozen=True)
class CardData:
    """The collection part of a neuron card: top, most negative and across-the-range examples, histogram."""

    unit: int
    top: Grid
    bottom: Grid
    across: Grid
    histogram: pd.DataFrame
    similar: pd.DataFrame  # units whose activations over the collection correlate most (unit, correlation)
    all_positive: bool = False  # no picture of the collection drives the unit below zero
    similar_rows: int = 0  # images the correlations were computed over (all, or an evenly spaced sample)
    similar_sampled: bool = False  # True when that is a sample of the collection (``similar_sample``)


def examples_frame(art: Artifact, unit: int, k: int, bottom: bool = False) -> pd.DataFrame:
    """Top (or most negative) examples of ``unit``: row, key, label, value, argmax."""
    rows = [int(r) for r in (art.bottom_rows(unit, k) if bottom else art.top_rows(unit, k))]
    return rows_frame(art, rows, unit)


def rows_frame(art: Artifact, rows: list[int], unit: int) -> pd.DataFrame:
    """row, key, label, value (the unit's spatial max), z (value in std-devs from zero) and argmax of the rows."""
    idx = np.asarray(rows, dtype=np.int64)
    labels = art.labels
    value = unit_at(art, unit, idx).astype(np.float32) if rows else np.zeros(0, np.float32)
    return pd.DataFrame({"row": idx, "key": [art.keys[r] for r in rows],
                         "label": [labels[r] for r in rows] if labels is not None else [""] * len(rows),
                         "value": value, "z": from_zero(value, float(art.unit_std[unit])),
                         "argmax": unit_at(art, unit, idx, "argmax").astype(np.int64) if rows else []})


def from_zero(values, std: float) -> np.ndarray:
    """Activations in standard deviations from zero (the article's unit for conditional probability);
    0 for a unit that never varies."""
    v = np.asarray(values, dtype=np.float64)
    return v / std if std > 0 else np.zeros_like(v)


def unit_at(art: Artifact, unit: int, rows, name: str = "max") -> np.ndarray:
    """``unit``'s ``max`` or ``argmax`` at ``rows``: from the unit-major copy when the artifact has one (one
    contiguous read, cold or warm), else from the row-major array (one page per row)."""
    idx = np.asarray(rows, dtype=np.int64)
    if art.unit_major(name) is not None:
        return art.unit_column(unit, name)[idx]
    return np.asarray((art.max if name == "max" else art.argmax)[idx, unit])


def unit_values(art: Artifact, unit: int) -> np.ndarray:
    """(N,) one unit's per-image spatial max (pre-ReLU) over the collection, float32 (one contiguous read from the
    artifact's unit-major copy when it has one: ``Artifact.unit_column``)."""
    return art.unit_column(unit, "max")


SIMILAR_ROWS = 20_000  # similar-by-activation: exact up to this many images, an evenly spaced sample above


def similar_sample(art: Artifact, rows: int = SIMILAR_ROWS) -> np.ndarray:
    """(M, C) float32 ``standardize``d spatial max for similar-by-activation lists: every row when the collection
    has at most ``rows`` images, else ``rows`` evenly spaced ones (read row by row, never the whole (N, C) array:
    at 1,000,000 x 2,560 that would be 10 GB in float32). Correlations over 20,000 rows are within about 0.01."""
    n = art.rows
    if n <= rows:
        return standardize(art.max)
    from core.pipeline.layout import ARRAYS
    from core.pipeline.store import RowFile

    idx = np.unique(np.linspace(0, n - 1, rows).round().astype(np.int64))
    z = RowFile(Path(art.path) / ARRAYS["max"][0]).read_rows(idx).astype(np.float32)  # (M, C), pread per row
    z -= z.mean(axis=0)  # in place: standardize's temporaries would be 4 more (M, C) float32 copies
    std = np.sqrt(np.einsum("ij,ij->j", z, z) / len(z))
    std[~(std > 0)] = np.inf  # constant units -> 0, as standardize
    z /= std
    return z


def bucket_frame(art: Artifact, unit: int, buckets: int, per_bucket: int, values: np.ndarray | None = None) -> pd.DataFrame:
    """Samples across the activation range by std-dev bucket, with key/label/argmax for display."""
    values = unit_values(art, unit) if values is None else values
    df = std_bucket_samples(values, buckets=buckets, per_bucket=per_bucket,
                                        std=float(art.unit_std[unit]))
    extra = rows_frame(art, df["row"].astype(int).tolist(), unit)
    return df.assign(key=extra["key"].to_numpy(), label=extra["label"].to_numpy(), argmax=extra["argmax"].to_numpy())


@dataclass(frozen=True)
class CardFrames:
    """The data of a card without tiles (what ``python -m core card`` prints): row, key, label, value, argmax frames
    of the top, most negative and across-the-range rows, the histogram, and similar units by activation
    (correlation over ``similar_rows`` images: all of them, or an evenly spaced sample, ``similar_sample``)."""

    unit: int
    top: pd.DataFrame
    bottom: pd.DataFrame
    across: pd.DataFrame
    histogram: pd.DataFrame
    similar: pd.DataFrame
    similar_rows: int
    similar_sampled: bool
    all_positive: bool  # no picture of the collection drives the unit below zero


def card_frames(art: Artifact, unit: int, *, top_k: int = 12, bottom_k: int = 6, buckets: int = 6, per_bucket: int = 2,
                similar: int = 8, standardized: np.ndarray | None = None) -> CardFrames:
    """The data of ``unit``'s card over a collection: one read of the unit's values (``unit_values``) feeds the
    buckets and the histogram. ``standardized``: ``similar_sample(art)`` if the caller keeps it."""
    values = unit_values(art, unit)  # also checks the unit
    top, bottom = examples_frame(art, unit, top_k), examples_frame(art, unit, bottom_k, bottom=True)
    across = bucket_frame(art, unit, buckets, per_bucket, values)
    hist = activation_histogram(values, std=float(art.unit_std[unit]))
    z = standardized if standardized is not None else similar_sample(art)
    corr = similar_by_correlation(z, unit, top=similar, standardized=True)
    return CardFrames(int(unit), top, bottom, across, hist, corr, int(z.shape[0]), int(z.shape[0]) < art.rows,
                      bool(values.size and values.min() > 0))


def build_card(art: Artifact, unit: int, *, top_k: int = 12, bottom_k: int = 6, buckets: int = 6, per_bucket: int = 2,
               similar: int = 8, width: int = 110, standardized: np.ndarray | None = None) -> CardData:
    """The collection part of ``unit``'s card (tiles ``width`` px; most-activating cell outlined on top tiles).

    ``standardized``: ``similar_sample(art)`` if the caller keeps it (else computed here).

    Raises:
        UnitOutOfRangeError: ``unit`` is not a unit of the artifact.
        ArtifactError: an image of the collection is missing or escapes its root.
    """
    f = card_frames(art, unit, top_k=top_k, bottom_k=bottom_k, buckets=buckets, per_bucket=per_bucket,
                    similar=similar, standardized=standardized)
    top = grid(art, f.top, width=width)
    bottom = grid(art, f.bottom, outline=False, width=width)
    across = grid(art, f.across, width=width)
    return CardData(int(unit), top, bottom, across, f.histogram, f.similar, all_positive=f.all_positive,
                    similar_rows=f.similar_rows, similar_sampled=f.similar_sampled)



"""Conditional-probability tables for one neuron (paper-methods §6): pure numpy/pandas.

Uniform buckets between the neuron's most negative and most positive activation over a
collection; up to N images sampled per bucket (seeded, deterministic); the stacked fraction of
each category per bucket; x in standard deviations from zero (activation / std of the neuron over
the collection). The reverse view is the activation distribution per category. Also zero-shot
labelling of rows from stored image embeddings. No torch, no streamlit.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.errors import BadInputError

logger = logging.getLogger(__name__)

MAX_BUCKETS = 50
MAX_PER_BUCKET = 1000
UNLABELLED = "(unlabelled)"
OTHER = "(other)"


@dataclass(frozen=True, eq=False)
class Categories:
    """A collection's row labels coded once (``categories``): ``sample_buckets`` then looks up only the sampled
    rows instead of cleaning and counting every label per unit (a million labels: about a second each time)."""

    codes: np.ndarray  # (N,) int32 into ``names``: the row's own label
    names: np.ndarray  # (L,) object
    plot_codes: np.ndarray  # (N,) int32 into ``plot_names``: the plotted category (``keep`` lumping)
    plot_names: np.ndarray  # (P,) object
    keep: int | None

    def __len__(self) -> int:
        return len(self.codes)


def categories(labels: Sequence[str] | None, n: int, keep: int | None = None) -> Categories:
    """Code ``labels`` (or ``UNLABELLED`` for all ``n`` rows) and their ``lump_categories(.., keep)`` once."""
    full = _clean_labels(labels, n)
    codes, names = pd.factorize(full, sort=False)
    plot_codes, plot_names = pd.factorize(lump_categories(full, keep), sort=False)
    return Categories(codes.astype(np.int32), np.asarray(names, dtype=object), plot_codes.astype(np.int32),
                      np.asarray(plot_names, dtype=object), keep)


def _check(values: np.ndarray, labels: Sequence[str] | None = None) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.size == 0:
        raise BadInputError("No activations: the collection is empty. Index a folder of images first.")
    if not np.all(np.isfinite(values)):
        raise BadInputError("Some activations are not finite (NaN/inf); re-extract the collection.")
    if labels is not None and len(labels) != values.size:
        raise BadInputError(f"{len(labels)} labels for {values.size} activations: they must be row-aligned.")
    return values


def std_from_zero(values: np.ndarray) -> float:
    """The neuron's standard deviation over the collection (the x unit); 1.0 if it is constant."""
    std = float(np.std(np.asarray(values, dtype=np.float64)))
    return std if std > 0 else 1.0


def bucket_edges(values: np.ndarray, buckets: int) -> np.ndarray:
    """``buckets + 1`` uniformly spaced edges from min to max of ``values``.

    Raises:
        BadInputError: ``buckets`` outside 1..MAX_BUCKETS, or no values.
    """
    values = _check(values)
    if not 1 <= int(buckets) <= MAX_BUCKETS:
        raise BadInputError(f"Number of buckets must be between 1 and {MAX_BUCKETS} (got {buckets}).")
    lo, hi = float(values.min()), float(values.max())
    if hi == lo:
        hi = lo + 1e-6
    return np.linspace(lo, hi, int(buckets) + 1)


def assign_buckets(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bucket index (0..len(edges)-2) of each value; the maximum falls in the last bucket."""
    idx = np.searchsorted(edges, np.asarray(values, np.float64), side="right") - 1
    return np.clip(idx, 0, len(edges) - 2)


def sample_buckets(values: np.ndarray, labels: Sequence[str] | Categories | None, *, buckets: int = 10,
                   per_bucket: int = 50, std: float | None = None, seed: int = 0,
                   keep: int | None = None) -> pd.DataFrame:
    """Sample up to ``per_bucket`` rows from each uniform activation bucket (deterministic).

    Args:
        values: (N,) one neuron's activation per collection row.
        labels: (N,) category per row, or None (all rows get ``UNLABELLED``), or ``categories(labels, N, keep)``
            (coded once per collection; its own ``keep`` applies).
        buckets: number of uniform buckets between min and max.
        per_bucket: rows sampled per bucket (all of them when a bucket holds fewer).
        std: the x unit; default ``std_from_zero(values)``.
        seed: sampling seed; the same inputs and seed give the same sample.
        keep: plot categories: the ``keep`` most frequent labels over the whole collection, the rest
            ``OTHER`` (None keeps every label).

    Returns:
        DataFrame with columns row, value, x (value / std), bucket, left, right (edges in std units),
        label (the row's own label), category (the plotted one); sorted by bucket then value.
    """
    values = _check(values, labels)
    if not 1 <= int(per_bucket) <= MAX_PER_BUCKET:
        raise BadInputError(f"Images per bucket must be between 1 and {MAX_PER_BUCKET} (got {per_bucket}).")
    std = float(std) if std and std > 0 else std_from_zero(values)
    edges = bucket_edges(values, buckets)
    which = assign_buckets(values, edges)
    rng = np.random.default_rng(seed)
    picked = []
    for b in range(len(edges) - 1):
        rows = np.flatnonzero(which == b)
        if len(rows) > per_bucket:
            rows = np.sort(rng.choice(rows, size=int(per_bucket), replace=False))
        picked.append(rows)
    rows = np.concatenate(picked) if picked else np.zeros(0, int)
    if isinstance(labels, Categories):
        label, category = labels.names[labels.codes[rows]], labels.plot_names[labels.plot_codes[rows]]
    else:
        full = _clean_labels(labels, values.size)
        label, category = full.to_numpy()[rows], lump_categories(full, keep).to_numpy()[rows]
    df = pd.DataFrame({
        "row": rows.astype(int),
        "value": values[rows],
        "x": values[rows] / std,
        "bucket": which[rows].astype(int),
        "left": edges[which[rows]] / std,
        "right": edges[which[rows] + 1] / std,
        "label": label,
        "category": category,
    })
    return df.sort_values(["bucket", "value"], kind="stable").reset_index(drop=True)


def _clean_labels(labels: Sequence[str] | None, n: int) -> pd.Series:
    if labels is None:
        return pd.Series([UNLABELLED] * n, dtype=object)
    return pd.Series(np.asarray(labels, dtype=object)).fillna(UNLABELLED).astype(str).replace("", UNLABELLED)


def lump_categories(labels: pd.Series, keep: int | None, other: str = OTHER) -> pd.Series:
    """Keep the ``keep`` most frequent labels and call the rest ``other`` (None keeps all)."""
    labels = labels.astype(str)
    if keep is None or labels.nunique() <= keep:
        return labels
    top = labels.value_counts(sort=True).index[:max(1, int(keep))]
    return labels.where(labels.isin(top), other)


def category_fractions(sample: pd.DataFrame) -> pd.DataFrame:
    """Stacked fractions per bucket from ``sample_buckets`` output (by its ``category`` column).

    Returns:
        DataFrame with columns bucket, left, right, center (std units), label (the category), count, n (bucket
        size), fraction (count / n; sums to 1 over labels within each non-empty bucket), y0, y1
        (the stacked extent of the label's bar). Every (bucket, label) pair is present, with zero
        counts where a label is absent, so stacked charts line up.
    """
    cols = ["bucket", "left", "right", "center", "label", "count", "n", "fraction", "y0", "y1"]
    if sample.empty:
        return pd.DataFrame(columns=cols)
    sample = sample.assign(label=sample["category"] if "category" in sample else sample["label"])
    counts = sample.groupby(["bucket", "label"]).size().rename("count")
    buckets = sample.groupby("bucket").agg(left=("left", "first"), right=("right", "first"), n=("row", "size"))
    labels = sorted(sample["label"].unique())
    full = pd.MultiIndex.from_product([buckets.index, labels], names=["bucket", "label"])
    out = counts.reindex(full, fill_value=0).reset_index().merge(buckets.reset_index(), on="bucket")
    out["fraction"] = out["count"] / out["n"]
    out["center"] = (out["left"] + out["right"]) / 2
    out = out.sort_values(["bucket", "label"], kind="stable").reset_index(drop=True)
    out["y1"] = out.groupby("bucket")["fraction"].cumsum()
    out["y0"] = out["y1"] - out["fraction"]
    return out[cols]


def bucket_members(sample: pd.DataFrame, bucket: int) -> pd.DataFrame:
    """Rows of ``sample`` in one bucket (highest activation first).

    Raises:
        BadInputError: the bucket does not exist in the sample.
    """
    present = sorted(int(b) for b in sample["bucket"].unique())
    if int(bucket) not in present:
        raise BadInputError(f"Bucket {bucket} is empty or does not exist. Non-empty buckets: "
                            f"{', '.join(map(str, present)) or 'none'}.")
    return sample[sample["bucket"] == int(bucket)].sort_values("value", ascending=False).reset_index(drop=True)


def category_distributions(values: np.ndarray, labels: Sequence[str] | Categories, *, std: float | None = None,
                           keep: int | None = None) -> pd.DataFrame:
    """The reverse view: every row's activation in std units with its category.

    ``keep``: the ``keep`` most frequent categories by name, the rest as ``other``.

    Returns:
        DataFrame with columns row, label, value, x (value / std).
    """
    values = _check(values, labels)
    std = float(std) if std and std > 0 else std_from_zero(values)
    if isinstance(labels, Categories):  # coded once per collection, with its own keep
        lab = labels.plot_names[labels.plot_codes]
    else:
        lab = lump_categories(_clean_labels(labels, values.size), keep).to_numpy()
    return pd.DataFrame({"row": np.arange(values.size), "label": lab, "value": values, "x": values / std})


SUMMARY_COLUMNS = ("label", "n", "median", "mean", "std", "min", "max")


def category_summary(dist: pd.DataFrame) -> pd.DataFrame:
    """Per-category median, spread and count of ``category_distributions`` output (article Fig 3 shape).

    Returns:
        DataFrame with columns label, n, median, mean, std, min, max (std units), sorted by median
        descending.
    """
    return category_boxes(dist)[list(SUMMARY_COLUMNS)]


def category_boxes(dist: pd.DataFrame) -> pd.DataFrame:
    """``category_summary`` with the quartiles: one row per category whatever the number of images, what the
    box plot draws (a chart of the rows themselves would send every image's value to the browser).

    Returns:
        DataFrame with columns label, n, min, q1, median, q3, max, mean, std (std units; quartiles by linear
        interpolation), sorted by median descending.
    """
    g = dist.groupby("label")["x"]
    out = pd.DataFrame({"n": g.size(), "min": g.min(), "q1": g.quantile(0.25), "median": g.median(),
                        "q3": g.quantile(0.75), "max": g.max(), "mean": g.mean(), "std": g.std(ddof=0)})
    out = out.reset_index()
    return out.sort_values("median", ascending=False, kind="stable").reset_index(drop=True)


def label_rows(image_emb: np.ndarray, text_emb: np.ndarray, classes: Sequence[str], *,
                     scale: float = 100.0, min_prob: float = 0.0, other: str = "other") -> pd.DataFrame:
    """Label rows by zero-shot classification of their stored image embeddings.

    Args:
        image_emb: (N, D) L2-normalised image embeddings (e.g. ``Artifact.embeddings``).
        text_emb: (K, D) L2-normalised class embeddings (``core.analyses.zeroshot.class_embeddings``).
        classes: the K class names.
        scale: logit scale of the softmax.
        min_prob: rows whose top probability is below this get ``other``.
        other: the label for low-confidence rows.

    Returns:
        DataFrame with columns label, prob (top-1 probability), one row per image row.
    """
    image_emb = np.asarray(image_emb, np.float64)
    text_emb = np.asarray(text_emb, np.float64)
    if text_emb.shape[0] != len(classes):
        raise BadInputError(f"{text_emb.shape[0]} class embeddings for {len(classes)} class names.")
    if image_emb.ndim != 2 or image_emb.shape[1] != text_emb.shape[1]:
        raise BadInputError(f"Image embeddings {image_emb.shape} do not match class embeddings {text_emb.shape}; "
                            "were they made with the same model?")
    logits = scale * image_emb @ text_emb.T  # (N, K)
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    top = probs.argmax(axis=1)
    labels = np.asarray(classes, dtype=object)[top]
    conf = probs[np.arange(len(top)), top]
    labels = np.where(conf >= min_prob, labels, other)
    return pd.DataFrame({"label": labels.astype(str), "prob": conf})

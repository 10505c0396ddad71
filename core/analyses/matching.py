"""The same neuron across models and layers: match the units of two artifacts over the same collection.

Two scores, both shown: the correlation of the units' activations over the shared images (spatial max and spatial
mean; Pearson), and the correlation of their responses over a shared word vocabulary (rastered words,
``core.analyses.words``), when both are scored. A unit's match is the unit of the other artifact with the highest
mean of the available correlations.

Memory: the correlation of Ca x Cb units over N images streams over rows. Each chunk of rows is read from the
memory-mapped float16 arrays, shifted by the first chunk's means, and added to float32 accumulators (one Ca x Cb
cross product, per-unit sums and sums of squares), so peak memory is the Ca x Cb accumulators plus one chunk,
whatever N is (``benchmarks/bench_matching.py``). Nothing here imports torch or streamlit.
"""
from __future__ import annotations

import logging
import mmap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.errors import BadInputError

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
CHUNK = 4096
STATS = ("max", "mean")


def shared_rows(keys_a: Sequence[str], keys_b: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the images both artifacts hold (by image key), in ``keys_a``'s order.

    Raises:
        BadInputError: fewer than 2 images in common (not the same collection).
    """
    if list(keys_a) == list(keys_b):
        rows = np.arange(len(keys_a), dtype=np.int64)
        return rows, rows
    where_b = {k: i for i, k in enumerate(keys_b)}
    pairs = [(i, where_b[k]) for i, k in enumerate(keys_a) if k in where_b]
    if len(pairs) < 2:
        raise BadInputError(f"The two artifacts share {len(pairs)} images: matching needs two artifacts over the "
                            "same collection.")
    a, b = np.asarray(pairs, dtype=np.int64).T
    return a, b


def _read(arr, rows: np.ndarray, start: int, stop: int, cols) -> np.ndarray:
    """Rows ``rows[start:stop]`` of ``arr`` as float32 (a slice, not a gather, when the rows are consecutive)."""
    r = rows[start:stop]
    block = arr[int(r[0]):int(r[-1]) + 1] if r[-1] - r[0] == len(r) - 1 else arr[r]
    block = np.array(block, dtype=np.float32)
    _release(arr)
    return block if cols is None else block[:, cols]


def _release(arr) -> None:
    """Drop the pages of a memory-mapped input already read from this process's resident set (they stay in
    the page cache), so the resident memory of a pass over N rows does not grow with N."""
    mm = getattr(arr, "_mmap", None)
    if mm is not None and hasattr(mm, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
        try:
            mm.madvise(mmap.MADV_DONTNEED)
        except (OSError, ValueError):
            pass


def correlate(a, b, rows_a: np.ndarray | None = None, rows_b: np.ndarray | None = None, *,
              cols_a: Sequence[int] | None = None, chunk: int = CHUNK, progress: Progress | None = None) -> np.ndarray:
    """Pearson correlation of every column of ``a`` with every column of ``b`` over paired rows, streamed.

    Args:
        a, b: (Na, Ca) and (Nb, Cb) arrays, typically memory-mapped float16; only one chunk of rows is read at once.
        rows_a, rows_b: the paired rows (default: all rows, which must then be as many in both).
        cols_a: a subset of ``a``'s columns (e.g. one unit), default all.
        chunk: rows per chunk.
        progress: called with (rows done, rows).

    Returns:
        (Ca, Cb) float32; 0 where a column is constant.
    """
    if rows_a is None:
        if a.shape[0] != b.shape[0]:
            raise BadInputError(f"{a.shape[0]} rows against {b.shape[0]}: pass the paired rows.")
        rows_a = rows_b = np.arange(a.shape[0], dtype=np.int64)
    n = len(rows_a)
    if n < 2:
        raise BadInputError("Correlation needs at least 2 shared rows.")
    cols = None if cols_a is None else np.asarray(cols_a, dtype=np.int64)
    shift_a = shift_b = None
    cross = sum_a = sum_b = sq_a = sq_b = None
    for start in range(0, n, chunk):
        x = _read(a, rows_a, start, start + chunk, cols)
        y = _read(b, rows_b, start, start + chunk, None)
        if shift_a is None:  # shifting by the first chunk's means keeps float32 sums accurate
            shift_a, shift_b = x.mean(0), y.mean(0)
            cross = np.zeros((x.shape[1], y.shape[1]), np.float32)
            sum_a, sq_a = np.zeros(x.shape[1], np.float64), np.zeros(x.shape[1], np.float64)
            sum_b, sq_b = np.zeros(y.shape[1], np.float64), np.zeros(y.shape[1], np.float64)
        x -= shift_a
        y -= shift_b
        cross += x.T @ y
        sum_a += x.sum(0, dtype=np.float64)
        sq_a += np.einsum("ij,ij->j", x, x)
        sum_b += y.sum(0, dtype=np.float64)
        sq_b += np.einsum("ij,ij->j", y, y)
        if progress:
            progress(min(start + chunk, n), n)
    mean_a, mean_b = sum_a / n, sum_b / n
    cov = cross / n - np.outer(mean_a, mean_b).astype(np.float32)
    sd_a = np.sqrt(np.maximum(sq_a / n - mean_a ** 2, 0.0)).astype(np.float32)
    sd_b = np.sqrt(np.maximum(sq_b / n - mean_b ** 2, 0.0)).astype(np.float32)
    den = np.outer(sd_a, sd_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(den > 1e-12 * np.maximum(den.max(), 1e-30), cov / den, 0.0)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


@dataclass
class Matching:
    """Unit-by-unit correlations of two artifacts (A's units as rows, B's as columns) and the best matches.

    Attributes:
        corr: ``{"max": (Ca, Cb), "mean": (Ca, Cb), "words": (Ca, Cb)}``; only the available scores.
        images: how many images the two share.
        words: how many words the word correlation used (0 when not scored for both).
    """

    corr: dict[str, np.ndarray]
    images: int
    words: int = 0
    meta: dict = field(default_factory=dict)

    @property
    def score(self) -> np.ndarray:
        """(Ca, Cb) the mean of the available correlations: what a match is chosen by."""
        return np.mean(np.stack(list(self.corr.values())), axis=0)

    def table(self) -> pd.DataFrame:
        """A's every unit with its best match in B: unit, match, score, r_max, r_mean, r_words, mutual."""
        score = self.score
        best = score.argmax(1)
        back = score.argmax(0)
        rows = np.arange(score.shape[0])
        df = pd.DataFrame({"unit": rows, "match": best, "score": score[rows, best]})
        for name in ("max", "mean", "words"):
            df[f"r_{name}"] = self.corr[name][rows, best] if name in self.corr else np.nan
        df["mutual"] = back[best] == rows
        return df

    def best_for(self, unit: int, top: int = 5) -> pd.DataFrame:
        """B's ``top`` units closest to A's ``unit``: unit, score, r_max, r_mean, r_words."""
        return ranked(self.corr, unit, top)


def ranked(corr: dict[str, np.ndarray], row: int, top: int) -> pd.DataFrame:
    """The ``top`` columns of row ``row`` by the mean of the available correlations, with each score."""
    score = np.mean(np.stack([c[row] for c in corr.values()]), axis=0)
    order = np.argsort(-score, kind="stable")[:top]
    df = pd.DataFrame({"unit": order.astype(int), "score": score[order]})
    for name in ("max", "mean", "words"):
        df[f"r_{name}"] = corr[name][row, order] if name in corr else np.nan
    return df


def _check(art_a, art_b) -> None:
    if art_a.manifest.get("collection", {}).get("sha256") != art_b.manifest.get("collection", {}).get("sha256"):
        logger.info("artifacts %s and %s index different file lists; matching over their shared images",
                    art_a.path, art_b.path)


def match_artifacts(art_a, art_b, *, words_a: np.ndarray | None = None, words_b: np.ndarray | None = None,
                    units_a: Sequence[int] | None = None, chunk: int = CHUNK,
                    progress: Progress | None = None) -> Matching:
    """Correlate the units of two artifacts over their shared images (spatial max and mean) and, given both
    artifacts' word activations over the same vocabulary ((V, Ca) and (V, Cb)), over the words.

    Args:
        units_a: only these units of A (rows of the result follow this order), e.g. one unit for a card.
    """
    _check(art_a, art_b)
    rows_a, rows_b = shared_rows(art_a.keys, art_b.keys)
    n = len(rows_a)
    steps = len(STATS) * n
    corr = {}
    for i, stat in enumerate(STATS):
        corr[stat] = correlate(art_a.stat(stat), art_b.stat(stat), rows_a, rows_b, cols_a=units_a, chunk=chunk,
                               progress=(lambda d, t, i=i: progress(i * n + d, steps)) if progress else None)
    n_words = 0
    if words_a is not None and words_b is not None:
        if len(words_a) != len(words_b):
            raise BadInputError(f"Word activations over {len(words_a)} and {len(words_b)} words: use one vocabulary.")
        corr["words"] = correlate(words_a, words_b, cols_a=units_a, chunk=chunk)
        n_words = len(words_a)
    return Matching(corr, n, n_words, {"a": str(art_a.path), "b": str(art_b.path), "layer_a": art_a.layer,
                                       "layer_b": art_b.layer, "model_a": art_a.model_id, "model_b": art_b.model_id})


def same_collection(art, candidates) -> list:
    """The artifacts among ``candidates`` (``ArtifactInfo`` or paths) over the same collection as ``art``
    (same file list, other model or layer), opened; unreadable ones are skipped."""
    from core.errors import ArtifactError
    from core.pipeline.store import open_artifact

    out = []
    want = art.manifest.get("collection", {}).get("sha256")
    for cand in candidates:
        path = getattr(cand, "path", cand)
        try:
            other = open_artifact(path)
        except ArtifactError:
            continue
        if other.path == art.path or other.manifest.get("collection", {}).get("sha256") != want:
            continue
        if other.fingerprint == art.fingerprint and other.layer == art.layer:
            continue
        out.append(other)
    return out


def cached_word_acts(art) -> np.ndarray | None:
    """The shipped vocabulary's activations (V, C) for the artifact's model and layer if already scored (by
    fingerprint, without loading the model), else None."""
    from types import SimpleNamespace

    from core.analyses.words import _cache_dir, _vocabulary

    path = _cache_dir(SimpleNamespace(fingerprint=art.fingerprint), art.layer, _vocabulary()) / "acts.npy"
    return np.load(path, mmap_mode="r") if path.is_file() else None

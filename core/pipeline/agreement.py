"""How far two artifacts of the same collection agree (mixed precision against float32): identical top-k rows per
unit, overlaps, the largest differences."""
from __future__ import annotations

import numpy as np

from core.errors import BadInputError

# ---------------------------------------------------------------- precision agreement

AGREEMENT_TARGET = 0.99  # share of units whose top-k rows must be identical, mixed precision vs float32


def topk_agreement(a, b, k: int = 12, stat: str = "max", block: int = 512) -> dict:
    """How far two artifacts of the same collection agree on each unit's top-k rows (e.g. mixed precision
    against float32; ``benchmarks/bench_extract.py --agreement``).

    Per unit, the ``k`` rows with the highest ``stat`` (ties: lower row first, as the stored top lists) are
    compared as sets between ``a`` and ``b``; the target is ``identical >= AGREEMENT_TARGET``.

    Args:
        a, b: artifacts (anything with ``keys``, ``max``/``mean`` (N, C) arrays and ``embeddings`` (N, D)) of
            the same rows.
        k: rows per unit (default 12: the neuron card's top grid).
        stat: ``max`` (default) or ``mean``.
        block: units compared at a time (bounds memory on big collections).

    Returns:
        ``{"units", "rows", "k", "stat", "identical"`` (share of units with the same top-k set),
        ``"identical_order"`` (same rows in the same order), ``"mean_overlap"`` (mean |A ∩ B| / k),
        ``"worst_overlap"``, ``"max_abs_diff"`` (largest |a - b| of ``stat`` over the top-k cells of ``a``,
        relative to the unit's std in ``a``), ``"emb_cosine_min"`` (lowest cosine between a row's two
        embeddings)}.

    Raises:
        BadInputError: the artifacts do not have the same rows and units, or a bad ``k``/``stat``.
    """
    if stat not in ("max", "mean"):
        raise BadInputError(f"stat must be max or mean, not {stat!r}.")
    if list(a.keys) != list(b.keys):
        raise BadInputError("The two artifacts do not hold the same images in the same order; compare runs over "
                            "the same collection.")
    xa, xb = getattr(a, stat), getattr(b, stat)
    if xa.shape != xb.shape:
        raise BadInputError(f"The artifacts have different shapes {xa.shape} and {xb.shape} (another layer?).")
    n, units = xa.shape
    if not 1 <= k <= n:
        raise BadInputError(f"k must be between 1 and the number of rows ({n}), not {k}.")
    same_set = same_order = 0
    overlaps: list[np.ndarray] = []
    worst_diff = 0.0
    for s in range(0, units, block):
        va = np.asarray(xa[:, s:s + block], dtype=np.float32)
        vb = np.asarray(xb[:, s:s + block], dtype=np.float32)
        ta = np.argsort(-va, axis=0, kind="stable")[:k].T  # (units in block, k)
        tb = np.argsort(-vb, axis=0, kind="stable")[:k].T
        same_order += int((ta == tb).all(axis=1).sum())
        sa, sb = np.sort(ta, axis=1), np.sort(tb, axis=1)
        same_set += int((sa == sb).all(axis=1).sum())
        overlaps.append(np.array([len(np.intersect1d(x, y, assume_unique=True)) for x, y in zip(sa, sb)]) / k)
        std = va.std(axis=0)
        std = np.where(std > 1e-12, std, 1.0)
        cells = np.take_along_axis(np.abs(va - vb), ta.T, axis=0) / std  # (k, units in block)
        worst_diff = max(worst_diff, float(cells.max()))
    ea = np.asarray(a.embeddings, dtype=np.float32)
    eb = np.asarray(b.embeddings, dtype=np.float32)
    cos = (ea * eb).sum(1) / np.maximum(np.linalg.norm(ea, axis=1) * np.linalg.norm(eb, axis=1), 1e-12)
    overlap = np.concatenate(overlaps)
    return {"units": units, "rows": n, "k": k, "stat": stat, "identical": same_set / units,
            "identical_order": same_order / units, "mean_overlap": float(overlap.mean()),
            "worst_overlap": float(overlap.min()), "max_abs_diff": worst_diff, "emb_cosine_min": float(cos.min())}

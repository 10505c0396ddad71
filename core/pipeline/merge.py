"""Merge step for collections that outgrow RAM: indexes built from an artifact's row files in bounded memory.

The per-unit top/bottom-k merge is ``core.pipeline.partial.finalize``: it streams the row files chunk by chunk
(pread, no mapping) through a running top-k, shared by the local and the Ray engine, so its peak memory is
one chunk plus k rows per unit whatever the collection size (benchmarks/bench_scaleout.py measures it).
This module adds what a web-scale collection needs on top of ``core.pipeline.index``: an IVF-PQ index (FAISS
``index_factory``) trained on an evenly spaced sample and filled block by block (a few dozen bytes per image,
memory-mapped at query time by ``EmbeddingIndex.load``), an exact search that streams the embeddings (the
ground truth without holding them), and recall@k of an approximate index against it.
Nothing here imports torch or streamlit.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.errors import ArtifactError, ArtifactMismatchError, BadInputError
from core.pipeline.index import (
    MIN_TRAIN,
    PQ_KIND,
    RERANK,
    TRAIN_PER_LIST,
    EmbeddingIndex,
    _faiss,
    _normalised,
    default_nprobe,
    load_index,
    pq_factory,
)
from core.pipeline.layout import ARRAYS
from core.pipeline.store import RowFile

if TYPE_CHECKING:
    from core.pipeline.store import Artifact

logger = logging.getLogger(__name__)

READ_ROWS = 16_384  # embedding rows per block read
__all__ = ["PQ_KIND", "pq_factory", "build_pq_index", "ensure_pq_index", "exact_search", "recall_at_k"]
RECALL_QUERIES = 200


def embedding_blocks(artifact: Artifact, block: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first_row, (B, D) float32 L2-normalised)`` blocks of an artifact's embeddings, via pread."""
    rf = RowFile(Path(artifact.path) / ARRAYS["emb"][0])
    block = block or READ_ROWS
    for s in range(0, rf.shape[0], block):
        yield s, _normalised(rf.read(s, s + block))


def _sample(artifact: Artifact, count: int) -> np.ndarray:
    """Every ``ceil(N / count)``-th row (deterministic, spread over the whole collection), read block by block."""
    stride = max(1, -(-artifact.rows // count))
    parts = [blk[(-s) % stride::stride] for s, blk in embedding_blocks(artifact)]
    return np.ascontiguousarray(np.concatenate(parts))


def build_pq_index(artifact: Artifact, *, nlist: int | None = None, m: int | None = None, nprobe: int | None = None,
                   train_rows: int | None = None, rerank: int = RERANK) -> EmbeddingIndex:
    """Build an IVF-PQ index of ``artifact``'s embeddings without loading them all.

    Memory: the training sample (``train_rows`` x D float32) plus the codes (N x (m + 8) bytes).

    Args:
        artifact: an opened ``Artifact``.
        nlist, m: IVF lists and PQ bytes per vector (see ``pq_factory``).
        nprobe: lists probed per query by default (recorded in the metadata; default ``default_nprobe``).
        train_rows: k-means/PQ training sample size (default max(39 nlist, 9984), at most N).
        rerank: shortlist re-scored exactly against the artifact's embeddings (attached here; 0 = none).

    Raises:
        BadInputError: too few rows to train the quantizers, or a bad ``m``.
    """
    n, d = artifact.rows, int(artifact.manifest["embed_dim"])
    factory, nlist, m = pq_factory(n, d, nlist=nlist, m=m)
    train_rows = min(n, int(train_rows or max(TRAIN_PER_LIST * nlist, MIN_TRAIN)))
    if train_rows < 256:
        raise BadInputError(f"An IVF-PQ index needs at least 256 images to train its codebooks; this artifact has "
                            f"{n}. Use --index-kind flat (exact) for small collections.")
    faiss = _faiss()
    index = faiss.index_factory(d, factory, faiss.METRIC_INNER_PRODUCT)
    t0 = time.perf_counter()
    index.train(_sample(artifact, train_rows))  # faiss k-means is seeded: same data, same index
    for _, block in embedding_blocks(artifact):
        index.add(block)
    meta = {"kind": "ivf", "index": PQ_KIND, "factory": factory, "dim": d, "rows": n, "nlist": nlist, "m": m,
            "nprobe": int(nprobe or default_nprobe(nlist)), "rerank": int(rerank), "trained_on": train_rows,
            "build_s": round(time.perf_counter() - t0, 3)}
    return EmbeddingIndex(index, meta).attach(artifact.embeddings if rerank else None)


def exact_search(artifact: Artifact, queries: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` inner-product search streaming over the embeddings (flat memory; ties: lower row first).

    Returns:
        ``(scores, rows)``, each (Q, k), best first.
    """
    q = _normalised(np.atleast_2d(queries))  # (Q, D)
    k = min(int(k), artifact.rows)
    best_s = np.full((len(q), 0), -np.inf, np.float32)
    best_r = np.zeros((len(q), 0), np.int64)
    for s, block in embedding_blocks(artifact):
        scores = q @ block.T  # (Q, B)
        rows = np.broadcast_to(np.arange(s, s + len(block)), scores.shape)
        cand_s, cand_r = np.concatenate([best_s, scores], 1), np.concatenate([best_r, rows], 1)
        order = np.lexsort((cand_r, -cand_s))[:, :k]  # along each row: score desc, then row asc
        best_s, best_r = np.take_along_axis(cand_s, order, 1), np.take_along_axis(cand_r, order, 1)
    return best_s, best_r


def recall_queries(artifact: Artifact, count: int = RECALL_QUERIES, seed: int = 0) -> np.ndarray:
    """Held-out-like queries: normalised midpoints of random pairs of indexed embeddings (not in the index)."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(artifact.rows, size=2 * count, replace=True)
    emb = RowFile(Path(artifact.path) / ARRAYS["emb"][0])
    vecs = np.stack([emb.read(int(r), int(r) + 1)[0] for r in rows]).astype(np.float32)  # (2Q, D)
    return _normalised(vecs[:count] + vecs[count:])  # (Q, D)


def recall_at_k(index: EmbeddingIndex, artifact: Artifact, *, k: int = 10, queries: np.ndarray | None = None,
                nprobe: int | None = None) -> float:
    """Mean fraction of the exact top-``k`` rows that ``index`` also returns (1.0 for an exact index)."""
    q = recall_queries(artifact) if queries is None else queries
    _, exact = exact_search(artifact, q, k)
    _, approx = index.search(q, k, nprobe=nprobe)
    return float(np.mean([len(set(a) & set(e)) / len(e) for a, e in zip(approx.tolist(), exact.tolist())]))


def ensure_pq_index(artifact: Artifact, *, nlist: int | None = None, m: int | None = None,
                    nprobe: int | None = None) -> EmbeddingIndex:
    """Load the artifact's IVF-PQ index, or build it, measure its recall@10 and save it beside the artifact.

    The saved index is what ``core.pipeline.index.load_index`` (and so every page) opens, memory-mapped.
    """
    try:
        idx = load_index(artifact)
        if idx.meta.get("index") == PQ_KIND:
            return idx
    except (ArtifactError, ArtifactMismatchError):
        pass
    idx = build_pq_index(artifact, nlist=nlist, m=m, nprobe=nprobe)
    idx.meta["recall@10"] = round(recall_at_k(idx, artifact, k=10), 4)
    idx.meta["recall_queries"] = RECALL_QUERIES
    idx.save(artifact.path, artifact_manifest=artifact.manifest)
    logger.info("built %s (%s) for %s: recall@10 %.3f", idx, idx.meta["factory"], artifact.path,
                idx.meta["recall@10"])
    return load_index(artifact)

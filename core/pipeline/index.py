"""FAISS index over an artifact's image embeddings: build, save beside the artifact, load read-only, search.

Exact inner product (``IndexFlatIP``) by default; from ``APPROX_THRESHOLD`` rows up (a threshold chosen by
measurement, ``benchmarks/bench_search.py``) an IVF-PQ index whose shortlist of ``rerank`` candidates is
re-scored exactly against the artifact's memory-mapped float16 embeddings (``attach``), so its top-k is the exact
top-k whenever the shortlist contains it (``benchmarks/bench_ann.py``, docs/performance.md). Row i of the index =
row i of the artifact = key i. Search parameters (``nprobe``, ``rerank``) are passed per call, never set on the
shared index. Nothing here imports torch or streamlit.
"""
from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.errors import ArtifactError, ArtifactMismatchError, BadInputError
from core.files import fsync_dir, write_json_atomic
from core.pipeline.store import read_manifest

if TYPE_CHECKING:
    from core.pipeline.store import Artifact

logger = logging.getLogger(__name__)

INDEX_FILE = "index.faiss"
META_FILE = "index.json"
KINDS = ("auto", "flat", "ivf", "ivfpq")
PQ_KIND = "ivfpq"
TRAIN_PER_LIST = 39  # training vectors per IVF list (FAISS's minimum before it warns)
MIN_TRAIN = 256 * 39  # 8-bit PQ codebooks want >= 39 points per centroid
# Re-ranked IVF-PQ defaults, chosen by benchmarks/bench_ann.py at 1M x 640 (docs/performance.md):
RERANK = 200  # shortlist re-scored exactly
NPROBE_DIV = 32  # nprobe = nlist / NPROBE_DIV, at least 16 lists
# Exact search is linear in N; below this many rows it stays fast enough that exactness wins, and IVF's training
# cost is deferred to where exact queries get slow (``bench_search.py`` measures both; docs/performance.md).
APPROX_THRESHOLD = 50_000
READ_CHUNK = 16_384


def _faiss():
    import faiss  # local import: keeps `python -m core --help` fast

    return faiss


class EmbeddingIndex:
    """An inner-product index over L2-normalised embeddings (read-only once built or loaded).

    Attributes:
        kind: ``flat`` (exact) or ``ivf`` (approximate).
        rows: number of indexed vectors. dim: their size. meta: what ``save`` records.
    """

    def __init__(self, index, meta: dict):
        self._index = index
        self._vectors = None  # (N, D) embeddings for exact re-ranking (``attach``)
        self.meta = meta
        self.kind: str = meta["kind"]
        self.rows: int = int(index.ntotal)
        self.dim: int = int(index.d)

    def __repr__(self) -> str:
        return f"EmbeddingIndex(kind={self.kind}, rows={self.rows}, dim={self.dim})"

    def attach(self, vectors) -> EmbeddingIndex:
        """Re-rank shortlists against ``vectors`` ((N, D), e.g. the artifact's memory-mapped float16 embeddings);
        only indexes built with a ``rerank`` shortlist use them. Returns self."""
        if vectors is not None and tuple(vectors.shape) != (self.rows, self.dim):
            raise BadInputError(f"Cannot re-rank against {tuple(vectors.shape)} embeddings: this index holds "
                                f"{self.rows} x {self.dim}.")
        self._vectors = vectors
        return self

    @property
    def reranks(self) -> bool:
        """True when searches re-score a shortlist exactly (re-ranked IVF-PQ with its embeddings attached)."""
        return self._vectors is not None and int(self.meta.get("rerank", 0)) > 0

    @classmethod
    def build(cls, embeddings: np.ndarray, *, kind: str = "auto", nlist: int | None = None,
              m: int | None = None) -> EmbeddingIndex:
        """Build from (N, D) embeddings (any float dtype; rows are re-normalised, read in chunks).

        ``auto`` is exact below ``APPROX_THRESHOLD`` rows and a re-ranked IVF-PQ above (IVF-Flat when there are
        too few rows to train PQ codebooks); the embeddings are attached for re-ranking.

        Raises:
            BadInputError: unknown ``kind``, or no rows.
        """
        if kind not in KINDS:
            raise BadInputError(f"Unknown index kind '{kind}'. Available: {', '.join(KINDS)}.")
        n, d = embeddings.shape
        if n == 0:
            raise BadInputError("Cannot index an empty collection.")
        faiss = _faiss()
        if kind == "auto":
            kind = "flat" if n < APPROX_THRESHOLD else PQ_KIND if n >= MIN_TRAIN else "ivf"
        meta: dict = {"kind": kind, "dim": int(d), "rows": int(n)}
        if kind == "flat":
            index = faiss.IndexFlatIP(d)
        elif kind == PQ_KIND:
            factory, nlist, m = pq_factory(n, d, nlist=nlist, m=m)
            index = faiss.index_factory(d, factory, faiss.METRIC_INNER_PRODUCT)
            train = min(n, max(TRAIN_PER_LIST * nlist, MIN_TRAIN))
            index.train(_rows(embeddings, np.linspace(0, n - 1, train).astype(np.int64)))
            meta.update(kind="ivf", index=PQ_KIND, factory=factory, nlist=nlist, m=m,
                        nprobe=default_nprobe(nlist), rerank=RERANK, trained_on=train)
        else:
            nlist = nlist or max(1, min(int(4 * math.sqrt(n)), n // 39))  # faiss wants >= 39 points per list
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
            sample = _rows(embeddings, np.linspace(0, n - 1, min(n, 64 * nlist)).astype(np.int64))
            index.train(sample)  # faiss k-means is seeded: the same data gives the same index
            meta.update(nlist=nlist, nprobe=max(1, nlist // 8))
        for s in range(0, n, READ_CHUNK):
            index.add(_normalised(embeddings[s:s + READ_CHUNK]))
        return cls(index, meta).attach(embeddings if meta.get("rerank") else None)

    def search(self, queries: np.ndarray, k: int = 10, *, nprobe: int | None = None,
               rerank: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows by inner product.

        Args:
            queries: (Q, D) or (D,) query embeddings (normalised here).
            k: results per query (clipped to the number of rows).
            nprobe: IVF lists probed (default: the value recorded at build); ignored for flat.
            rerank: shortlist size re-scored exactly (default: the value recorded at build; 0 = none); used only
                when embeddings are attached.

        Returns:
            ``(scores, rows)``, each (Q, k'), best first; scores are cosine similarities.
        """
        q = np.atleast_2d(np.asarray(queries))
        if q.shape[-1] != self.dim:
            raise BadInputError(f"Query has dimension {q.shape[-1]}; this index holds {self.dim}-d embeddings.")
        if k < 1:
            raise BadInputError(f"k must be >= 1 (got {k}).")
        k = min(int(k), self.rows)
        params = None
        if self.kind == "ivf":
            params = _faiss().SearchParametersIVF(nprobe=int(nprobe or self.meta.get("nprobe", 8)))
        q = _normalised(q)
        shortlist = int(self.meta.get("rerank", 0) if rerank is None else rerank) if self._vectors is not None else 0
        if shortlist <= 0:
            scores, rows = self._index.search(q, k, params=params)
            return scores, rows.astype(np.int64)
        _, cand = self._index.search(q, min(max(k, shortlist), self.rows), params=params)
        out = [_rescore(self._vectors, qi, ci[ci >= 0], k) for qi, ci in zip(q, cand.astype(np.int64))]
        return np.stack([s for s, _ in out]), np.stack([r for _, r in out])

    def save(self, directory: str | os.PathLike, *, artifact_manifest: dict | None = None) -> Path:
        """Write ``index.faiss`` + ``index.json`` into ``directory`` (atomically: tmp file + rename)."""
        directory = Path(directory)
        tmp = directory / (INDEX_FILE + ".tmp")
        _faiss().write_index(self._index, str(tmp))
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        meta = dict(self.meta)
        if artifact_manifest is not None:
            meta["artifact"] = _artifact_id(artifact_manifest)
        (directory / META_FILE).unlink(missing_ok=True)  # no stale metadata describes the new file
        os.replace(tmp, directory / INDEX_FILE)
        fsync_dir(directory)
        write_json_atomic(directory / META_FILE, meta)
        self.meta = meta
        return directory / INDEX_FILE

    @classmethod
    def load(cls, directory: str | os.PathLike, *, artifact_manifest: dict | None = None) -> EmbeddingIndex:
        """Load a saved index read-only (memory-mapped).

        Raises:
            ArtifactError: missing or unreadable; ``ArtifactMismatchError``: built for another artifact.
        """
        import json

        directory = Path(directory)
        ipath, mpath = directory / INDEX_FILE, directory / META_FILE
        if not ipath.is_file() or not mpath.is_file():
            raise ArtifactError(f"No embedding index in {directory}; build it with `python -m core index "
                                "--model M --images DIR --out DIR` (reruns skip the finished extraction).")
        try:
            meta = json.loads(mpath.read_text(encoding="utf-8"))
            faiss = _faiss()
            index = faiss.read_index(str(ipath), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
        except (OSError, ValueError, RuntimeError) as err:
            raise ArtifactError(f"The index in {directory} is unreadable ({err}); rebuild it with "
                                "`python -m core index ...`.") from err
        if artifact_manifest is not None and meta.get("artifact") != _artifact_id(artifact_manifest):
            raise ArtifactMismatchError(f"The index in {directory} was built for another artifact than the one "
                                        "there now; rebuild it with `python -m core index ...`.")
        if int(index.ntotal) != int(meta.get("rows", -1)):
            raise ArtifactError(f"The index in {directory} holds {index.ntotal} rows, its metadata says "
                                f"{meta.get('rows')}; rebuild it.")
        return cls(index, meta)


def default_nprobe(nlist: int) -> int:
    """Lists probed by a re-ranked IVF-PQ: ``nlist / NPROBE_DIV``, at least 16 (all lists of a tiny index).

    At 1M x 640 (1,000 lists) re-ranked recall@10 is 0.990 from 16 probes up and the latency grows with the probes
    (bench_ann.py); small indexes, whose lists each hold a larger share of a cluster, need the floor."""
    return max(min(nlist, 16), nlist // NPROBE_DIV)


def pq_factory(rows: int, dim: int, *, nlist: int | None = None, m: int | None = None) -> tuple[str, int, int]:
    """The ``index_factory`` string for an IVF-PQ index: ``(factory, nlist, m)``.

    ``nlist`` defaults to ~sqrt(N) lists (so the training sample, 39 per list, stays small: PQ codebook
    training dominates the build); ``m`` (bytes per vector) to about D/2, at most 128, dividing D.
    """
    nlist = int(nlist or max(1, min(rows // TRAIN_PER_LIST, int(math.sqrt(rows)))))
    if m is None:  # ~2 dims per byte: recall@10 0.87 vs 0.68 at ~4 dims per byte (benchmarks/bench_scaleout.py)
        m = next(c for c in range(min(128, max(1, dim // 2)), 0, -1) if dim % c == 0)
    if dim % m:
        raise BadInputError(f"PQ needs m to divide the embedding size {dim}; got m={m}. "
                            f"Valid: {', '.join(str(c) for c in range(1, dim + 1) if dim % c == 0)}.")
    return f"IVF{nlist},PQ{m}np", nlist, m  # np: no polysemous training (20x slower, unused here)


def _rescore(vectors, q: np.ndarray, cand: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` of the candidate rows (score desc, then row asc, as exact search), padded with -1 rows."""
    cand = np.unique(cand)  # sorted: sequential reads from a memory map
    scores = _normalised(np.asarray(vectors[cand])) @ q if len(cand) else np.zeros(0, np.float32)
    order = np.lexsort((cand, -scores))[:k]
    s = np.full(k, -np.inf, np.float32)
    r = np.full(k, -1, np.int64)
    s[:len(order)], r[:len(order)] = scores[order], cand[order]
    return s, r


def _artifact_id(manifest: dict) -> dict:
    return {k: manifest.get(k) for k in ("fingerprint", "layer", "rows", "created", "run_id")}


def _rows(arr: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return _normalised(np.asarray(arr[idx]))


def _normalised(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norms, 1e-12))


def build_index(artifact: Artifact, *, kind: str = "auto") -> EmbeddingIndex:
    """Build the index of an artifact's embeddings and save it beside the artifact."""
    idx = EmbeddingIndex.build(artifact.embeddings, kind=kind)
    idx.save(artifact.path, artifact_manifest=artifact.manifest)
    idx.attach(artifact.embeddings if idx.meta.get("rerank") else None)
    logger.info("built %s for %s", idx, artifact.path)
    return idx


def load_index(artifact: Artifact) -> EmbeddingIndex:
    """Load the index saved beside ``artifact`` (checked against its manifest; a re-ranked index gets the
    artifact's memory-mapped embeddings attached)."""
    idx = EmbeddingIndex.load(artifact.path, artifact_manifest=artifact.manifest)
    return idx.attach(artifact.embeddings if idx.meta.get("rerank") else None)


def ensure_index(artifact: Artifact, *, kind: str = "auto") -> EmbeddingIndex:
    """Load the artifact's index, building and saving it first when missing, stale or unreadable."""
    try:
        return load_index(artifact)
    except (ArtifactError, ArtifactMismatchError):
        read_manifest(artifact.path)  # the artifact itself must still be valid
        return build_index(artifact, kind=kind)

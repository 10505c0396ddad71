"""FAISS index over an artifact's image embeddings: build, save beside the artifact, load read-only, search.

Exact inner product (``IndexFlatIP``) by default; an IVF index (approximate) from ``APPROX_THRESHOLD``
rows up, a threshold chosen by measurement (``benchmarks/bench_search.py``, README "Performance").
Row i of the index = row i of the artifact = key i. Search parameters (``nprobe``) are passed per
call, never set on the shared index. Nothing here imports torch or streamlit.
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
KINDS = ("auto", "flat", "ivf")
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
        self.meta = meta
        self.kind: str = meta["kind"]
        self.rows: int = int(index.ntotal)
        self.dim: int = int(index.d)

    def __repr__(self) -> str:
        return f"EmbeddingIndex(kind={self.kind}, rows={self.rows}, dim={self.dim})"

    @classmethod
    def build(cls, embeddings: np.ndarray, *, kind: str = "auto", nlist: int | None = None) -> EmbeddingIndex:
        """Build from (N, D) embeddings (any float dtype; rows are re-normalised, read in chunks).

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
            kind = "ivf" if n >= APPROX_THRESHOLD else "flat"
        meta: dict = {"kind": kind, "dim": int(d), "rows": int(n)}
        if kind == "flat":
            index = faiss.IndexFlatIP(d)
        else:
            nlist = nlist or max(1, min(int(4 * math.sqrt(n)), n // 39))  # faiss wants >= 39 points per list
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
            sample = _rows(embeddings, np.linspace(0, n - 1, min(n, 64 * nlist)).astype(np.int64))
            index.train(sample)  # faiss k-means is seeded: the same data gives the same index
            meta.update(nlist=nlist, nprobe=max(1, nlist // 8))
        for s in range(0, n, READ_CHUNK):
            index.add(_normalised(embeddings[s:s + READ_CHUNK]))
        return cls(index, meta)

    def search(self, queries: np.ndarray, k: int = 10, *, nprobe: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows by inner product.

        Args:
            queries: (Q, D) or (D,) query embeddings (normalised here).
            k: results per query (clipped to the number of rows).
            nprobe: IVF lists probed (default: the value recorded at build); ignored for flat.

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
        scores, rows = self._index.search(_normalised(q), k, params=params)
        return scores, rows.astype(np.int64)

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
    logger.info("built %s for %s", idx, artifact.path)
    return idx


def load_index(artifact: Artifact) -> EmbeddingIndex:
    """Load the index saved beside ``artifact`` (checked against its manifest)."""
    return EmbeddingIndex.load(artifact.path, artifact_manifest=artifact.manifest)


def ensure_index(artifact: Artifact, *, kind: str = "auto") -> EmbeddingIndex:
    """Load the artifact's index, building and saving it first when missing, stale or unreadable."""
    try:
        return load_index(artifact)
    except (ArtifactError, ArtifactMismatchError):
        read_manifest(artifact.path)  # the artifact itself must still be valid
        return build_index(artifact, kind=kind)

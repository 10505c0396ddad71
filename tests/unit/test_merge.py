"""Merge step at scale: the streaming top/bottom-k equals a full sort, streaming exact search equals FAISS
flat search, and the IVF-PQ index is built from row blocks, saved, memory-mapped and scored by recall@10."""
from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.bench_scaleout import synthetic_artifact

ROWS, UNITS, DIM, CHUNK, TOPK = 3000, 6, 32, 256, 20


@pytest.fixture(scope="module")
def art(tmp_path_factory):
    """A 3000-row artifact written through the real work files and merged by the shared finalize step."""
    return synthetic_artifact(tmp_path_factory.mktemp("merge") / "art", ROWS, UNITS, DIM, chunk_rows=CHUNK,
                              topk=TOPK, clusters=20)


def test_streaming_topk_equals_full_sort(art):
    rows = np.arange(art.rows)
    for stat in ("max", "mean"):
        vals = np.asarray(art.stat(stat), dtype=np.float32)
        for unit in range(art.units):
            top = np.lexsort((rows, -vals[:, unit]))[:TOPK]
            bottom = np.lexsort((rows, vals[:, unit]))[:TOPK]
            assert np.array_equal(art.top_rows(unit, TOPK, stat), top)
            assert np.array_equal(art.bottom_rows(unit, TOPK, stat), bottom)


def test_exact_search_streams_blocks_and_matches_faiss_flat(art, monkeypatch):
    import core.pipeline.merge as merge
    from core.pipeline.index import EmbeddingIndex

    monkeypatch.setattr(merge, "READ_ROWS", 700)  # several blocks, last one partial
    assert len(list(merge.embedding_blocks(art))) == 5
    q = merge.recall_queries(art, 25)
    scores, rows = merge.exact_search(art, q, 10)
    flat = EmbeddingIndex.build(art.embeddings, kind="flat")
    fs, fr = flat.search(q, 10)
    assert np.array_equal(rows, fr)
    np.testing.assert_allclose(scores, fs, rtol=1e-5, atol=1e-6)
    assert merge.recall_at_k(flat, art, k=10, queries=q) == 1.0


def test_pq_index_saved_memory_mapped_and_scored(art):
    from core.pipeline.index import load_index
    from core.pipeline.merge import PQ_KIND, build_pq_index, ensure_pq_index, recall_at_k

    idx = ensure_pq_index(art, nlist=16, m=8)
    meta = json.loads((art.path / "index.json").read_text())
    assert meta["index"] == PQ_KIND and meta["factory"] == "IVF16,PQ8np" and meta["rows"] == ROWS
    assert 0.5 <= meta["recall@10"] <= 1.0  # clustered data, 8 bytes per vector
    loaded = load_index(art)  # what the pages open: memory-mapped, checked against the manifest
    assert loaded.kind == "ivf" and loaded.rows == ROWS and loaded.meta["index"] == PQ_KIND
    fresh = build_pq_index(art, nlist=16, m=8)  # deterministic: same data -> same index
    q = np.asarray(art.embeddings[:5], dtype=np.float32)
    assert np.array_equal(loaded.search(q, 5)[1], fresh.search(q, 5)[1])
    assert np.array_equal(idx.search(q, 5)[1], loaded.search(q, 5)[1])
    assert recall_at_k(loaded, art, nprobe=16) >= recall_at_k(loaded, art, nprobe=1)  # probing all lists helps
    assert ensure_pq_index(art).meta["build_s"] == meta["build_s"]  # reused, not rebuilt


def test_pq_parameters_are_validated(tmp_path):
    from core.errors import BadInputError
    from core.pipeline.merge import build_pq_index, pq_factory

    assert pq_factory(1_000_000, 640)[0] == "IVF1000,PQ128np"
    assert pq_factory(100_000, 128)[2] == 64
    with pytest.raises(BadInputError, match="Valid: 1, 2, 4, 8"):
        pq_factory(5000, 8, m=3)
    small = synthetic_artifact(tmp_path / "small", 100, 4, 16, chunk_rows=64, topk=5)
    with pytest.raises(BadInputError, match="index-kind flat"):
        build_pq_index(small)


def test_cli_ivfpq_on_a_small_collection_is_a_clear_error(tiny_rn, tmp_path, capsys):
    from core.cli import main
    from tests.conftest import make_image_folder

    imgs = make_image_folder(tmp_path / "images", n_per_class=2)
    rc = main(["index", "--model", "tiny-rn/random", "--images", str(imgs), "--out", str(tmp_path / "a"),
               "--workers", "0", "--index-kind", "ivfpq", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "at least 256 images" in err and "--index-kind flat" in err
    assert main(["index", "--model", "tiny-rn/random", "--images", str(imgs), "--out", str(tmp_path / "a"),
                 "--workers", "0", "--index-kind", "flat", "--no-progress"]) == 0  # the extraction is reused

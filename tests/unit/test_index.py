"""FAISS index: save/load round trip, exact vs IVF, read-only load, artifact mismatch."""
from __future__ import annotations

import numpy as np
import pytest

import core.pipeline.index as ci
from core.errors import ArtifactError, ArtifactMismatchError, BadInputError
from core.pipeline.extract import run_extraction
from core.pipeline.index import EmbeddingIndex, build_index, ensure_index, load_index


def _data(n=3000, d=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_save_load_round_trip_gives_identical_results(kind, tmp_path):
    x, q = _data(), _data(20, seed=1)
    idx = EmbeddingIndex.build(x.astype(np.float16), kind=kind)
    before = idx.search(q, 10)
    idx.save(tmp_path)
    again = EmbeddingIndex.load(tmp_path)
    after = again.search(q, 10)
    assert again.kind == kind and again.rows == 3000
    np.testing.assert_array_equal(before[1], after[1])
    np.testing.assert_array_equal(before[0], after[0])


def test_flat_is_exact_and_ivf_with_all_lists_equals_flat():
    x, q = _data(), _data(10, seed=2)
    scores, rows = EmbeddingIndex.build(x, kind="flat").search(q, 5)
    brute = np.argsort(-(q @ x.T), axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(rows, brute)
    ivf = EmbeddingIndex.build(x, kind="ivf", nlist=16)
    np.testing.assert_array_equal(ivf.search(q, 5, nprobe=16)[1], rows)
    assert ivf.search(q[0], 5)[1].shape == (1, 5)  # a single (D,) query works


def test_auto_kind_follows_the_threshold(monkeypatch):
    x = _data(500)
    assert EmbeddingIndex.build(x).kind == "flat"
    monkeypatch.setattr(ci, "APPROX_THRESHOLD", 400)
    assert EmbeddingIndex.build(x).kind == "ivf"


def test_bad_queries(tmp_path):
    idx = EmbeddingIndex.build(_data(50))
    with pytest.raises(BadInputError, match="dimension"):
        idx.search(np.zeros((1, 8), np.float32), 3)
    with pytest.raises(BadInputError):
        EmbeddingIndex.build(_data(50), kind="hnsw")
    assert idx.search(_data(1), 500)[1].shape == (1, 50)  # k clipped to the rows
    with pytest.raises(ArtifactError, match="No embedding index"):
        EmbeddingIndex.load(tmp_path)


def test_index_beside_artifact_checks_the_artifact(tiny_rn, image_folder, tmp_path):
    art = run_extraction(tiny_rn, image_folder, tmp_path / "a", workers=0)
    idx = build_index(art)
    assert (art.path / "index.faiss").is_file() and load_index(art).rows == art.rows
    row = 5
    _, rows = idx.search(art.embeddings[row:row + 1].astype(np.float32), 1)
    assert rows[0, 0] == row  # row i of the index = row i of the artifact
    other = run_extraction(tiny_rn, image_folder, tmp_path / "b", workers=0, topk=3)
    (other.path / "index.faiss").write_bytes((art.path / "index.faiss").read_bytes())
    (other.path / "index.json").write_bytes((art.path / "index.json").read_bytes())
    with pytest.raises(ArtifactMismatchError, match="another artifact"):
        load_index(other)
    assert ensure_index(other).meta["artifact"]["run_id"] == other.manifest["run_id"]  # rebuilt


def _clustered(n, d=64, centers=100, seed=0, noise=0.7):
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centers, d)).astype(np.float32)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    x = c[rng.integers(0, centers, n)] + rng.normal(scale=noise / np.sqrt(d), size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _recall(got, exact):
    return float(np.mean([len(set(a) & set(e)) / len(e) for a, e in zip(got.tolist(), exact.tolist())]))


@pytest.fixture(scope="module")
def pq20k():
    """20k x 64 clustered float16 embeddings, 100 held-out queries, their exact top-10 and a re-ranked IVF-PQ."""
    x = _clustered(20_000).astype(np.float16)
    q = _clustered(100, seed=1)
    exact = EmbeddingIndex.build(x, kind="flat").search(q, 10)
    return x, q, exact, EmbeddingIndex.build(x, kind="ivfpq", m=16)


def test_reranked_ivfpq_recall_against_exact_search(pq20k):
    x, q, (es, er), idx = pq20k
    assert idx.kind == "ivf" and idx.meta["index"] == "ivfpq" and idx.meta["rerank"] == ci.RERANK and idx.reranks
    s, r = idx.search(q, 10)
    assert _recall(r, er) >= 0.95
    assert _recall(idx.search(q, 10, rerank=0)[1], er) < _recall(r, er)  # the PQ codes alone lose answers
    hit = r == er
    np.testing.assert_allclose(s[hit], es[hit], rtol=1e-5, atol=1e-6)  # re-ranked scores are exact cosines
    assert np.all(np.diff(s, axis=1) <= 0)


def test_reranked_index_saved_and_loaded_beside_an_artifact(pq20k, tmp_path):
    """``load_index`` attaches the artifact's embeddings: the loaded index re-ranks as the built one did."""
    from types import SimpleNamespace

    x, q, (_, er), idx = pq20k
    np.save(tmp_path / "emb.f16.npy", x)
    art = SimpleNamespace(path=tmp_path, manifest={"run_id": "r", "rows": len(x)},
                          embeddings=np.load(tmp_path / "emb.f16.npy", mmap_mode="r"))
    idx.save(tmp_path, artifact_manifest=art.manifest)
    loaded = load_index(art)
    assert loaded.reranks and not EmbeddingIndex.load(tmp_path).reranks
    np.testing.assert_array_equal(loaded.search(q, 10)[1], idx.search(q, 10)[1])
    assert _recall(loaded.search(q, 10)[1], er) >= 0.95
    with pytest.raises(BadInputError, match="re-rank"):
        loaded.attach(x[:10])


def test_auto_above_the_threshold_is_reranked_ivfpq(monkeypatch):
    x = _data(600)
    monkeypatch.setattr(ci, "APPROX_THRESHOLD", 400)
    monkeypatch.setattr(ci, "MIN_TRAIN", 500)
    idx = EmbeddingIndex.build(x)
    assert idx.meta["index"] == "ivfpq" and idx.reranks
    flat = EmbeddingIndex.build(x, kind="flat")
    q = _data(5, seed=3)
    np.testing.assert_array_equal(idx.search(q, 5, nprobe=idx.meta["nlist"], rerank=600)[1], flat.search(q, 5)[1])

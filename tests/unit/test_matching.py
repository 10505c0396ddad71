"""The same neuron across artifacts: streamed correlation, a permuted copy matched back exactly, two layers of one
model, word scores, the CLI."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from core.analyses import matching
from core.cli import main
from core.errors import BadInputError
from core.pipeline.store import ARRAYS, open_artifact

pytestmark = pytest.mark.usefixtures("one_torch_thread")
PRE, POST = "visual.layer4.0.act3@in", "visual.layer4.0"


@pytest.fixture(scope="module")
def two_layers(tiny_rn, tmp_path_factory):
    """The same 12-image collection indexed by tiny-rn at a block's pre-ReLU sum and at its (post-ReLU) output."""
    from core.pipeline.extract import run_extraction
    from tests.conftest import make_image_folder

    base = tmp_path_factory.mktemp("match")
    folder = make_image_folder(base / "images", n_per_class=6, size=64)
    pre = run_extraction(tiny_rn, folder, base / "pre", layer=PRE, workers=0, topk=8)
    post = run_extraction(tiny_rn, folder, base / "post", layer=POST, workers=0, topk=8)
    return pre, post


def permuted_copy(art, dest, perm: np.ndarray):
    """A copy of ``art`` whose unit j is the original's unit ``perm[j]``."""
    shutil.copytree(art.path, dest)
    for name, (fname, dtype) in ARRAYS.items():
        if name == "emb":
            continue
        arr = np.load(art.path / fname)
        arr = arr[:, perm] if name in ("max", "argmax", "mean", "stats") else arr[perm]
        np.save(dest / fname, arr.astype(dtype))
    return open_artifact(dest)


def test_correlate_matches_numpy_and_streams_in_chunks():
    rng = np.random.default_rng(0)
    a = (rng.normal(size=(500, 20)) + 40).astype(np.float16)  # a large offset: the shift keeps float32 exact
    b = rng.normal(size=(500, 7)).astype(np.float32)
    b[:, 3] = a[:, 5] * 2 + 1
    ref = np.corrcoef(a.astype(np.float64).T, b.astype(np.float64).T)[:20, 20:]
    for chunk in (64, 500, 4096):
        got = matching.correlate(a, b, chunk=chunk)
        assert got.dtype == np.float32 and np.abs(got - ref).max() < 1e-4
    assert matching.correlate(a, b, cols_a=[5]).shape == (1, 7)
    const = np.ones((500, 2), np.float32)
    assert np.all(matching.correlate(a, const) == 0)


def test_shared_rows_by_key():
    ra, rb = matching.shared_rows(["x", "y", "z", "w"], ["w", "q", "y", "x"])
    assert ra.tolist() == [0, 1, 3] and rb.tolist() == [3, 2, 0]
    with pytest.raises(BadInputError, match="same collection"):
        matching.shared_rows(["a", "b"], ["c", "d"])


def test_a_permuted_copy_is_matched_back_exactly(two_layers, tmp_path):
    pre, _ = two_layers
    perm = np.random.default_rng(1).permutation(pre.units)
    copy = permuted_copy(pre, tmp_path / "perm", perm)
    m = matching.match_artifacts(pre, copy)
    table = m.table()
    varying = np.asarray(pre.max, np.float32).std(0) > 0
    inverse = np.argsort(perm)
    assert (table["match"].to_numpy()[varying] == inverse[varying]).all()
    assert np.allclose(table["r_max"].to_numpy()[varying], 1.0, atol=1e-3)
    assert table["mutual"].to_numpy()[varying].all()
    assert m.images == pre.rows and set(m.corr) == {"max", "mean"}


def test_word_scores_join_the_match(two_layers, tmp_path):
    pre, _ = two_layers
    perm = np.random.default_rng(2).permutation(pre.units)
    copy = permuted_copy(pre, tmp_path / "perm", perm)
    words = np.random.default_rng(3).normal(size=(300, pre.units)).astype(np.float32)
    m = matching.match_artifacts(pre, copy, words_a=words, words_b=words[:, perm])
    assert m.words == 300 and "words" in m.corr
    assert (m.table()["match"].to_numpy() == np.argsort(perm)).all()  # words separate even the constant units
    best = m.best_for(7, top=3)
    assert best.iloc[0]["unit"] == np.argsort(perm)[7] and best.iloc[0]["r_words"] == pytest.approx(1.0, abs=1e-4)


def test_two_layers_pre_and_post_relu_match_themselves(two_layers):
    """The post-ReLU output of a block is a monotone function of its pre-ReLU sum (for the spatial max; the spatial
    mean of the ReLU is not), so where a unit varies its best match in the other layer should mostly be itself:
    76 % of them on this 18-image tiny random model, against a chance of 1 in 256."""
    pre, post = two_layers
    table = matching.match_artifacts(pre, post).table()
    varying = (np.asarray(pre.max, np.float32).std(0) > 0) & (np.asarray(post.max, np.float32).std(0) > 0)
    own = (table["match"].to_numpy() == np.arange(pre.units))[varying].mean()
    assert own > 0.6, own
    assert (table["r_max"].to_numpy()[varying] > 0.5).mean() > 0.8


def test_same_collection_lists_the_other_layer(two_layers):
    pre, post = two_layers
    found = matching.same_collection(pre, [post.path, pre.path, pre.path.parent / "missing"])
    assert [a.path for a in found] == [post.path]


def test_cli_match_json(two_layers, capsys):
    pre, post = two_layers
    code = main(["match", "--a", str(pre.path), "--b", str(post.path), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["images"] == pre.rows and len(out["matches"]) == pre.units
    assert {"unit", "match", "score", "r_max", "r_mean", "r_words", "mutual"} <= set(out["matches"][0])
    code = main(["match", "--a", str(pre.path), "--b", str(post.path), "--unit", "3", "--top", "4", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["unit"] == 3 and len(out["matches"]) == 4
    assert main(["match", "--a", str(pre.path), "--b", str(post.path), "--unit", "9999"]) == 2

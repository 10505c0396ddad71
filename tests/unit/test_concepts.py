"""Sparse concept codes (non-negative lasso) and the NMF atlas: optimality, recovery, determinism, model glue."""
from __future__ import annotations

import numpy as np
import pytest

from core.analyses.concepts import (
    EMOTION_PROMPTS,
    atlas_for,
    code_concept,
    concept_atlas,
    concept_vectors,
    kkt_violation,
    neuron_directions,
    nmf,
    nonneg_lasso,
    prompts_for,
    sparse_code,
)
from core.errors import BadInputError


def _dirs(c=120, d=32, seed=0):
    return np.random.default_rng(seed).normal(size=(c, d))


def test_nonneg_lasso_satisfies_kkt_and_is_nonnegative():
    rng = np.random.default_rng(1)
    A, b = rng.normal(size=(20, 50)), rng.normal(size=20)
    for lam in (0.1, 1.0, 5.0):
        x = nonneg_lasso(A, b, lam)
        assert (x >= 0).all()
        assert kkt_violation(A, b, lam, x) < 1e-6
    lam_max = float((A.T @ b).max())
    assert not nonneg_lasso(A, b, lam_max * 1.01).any(), "above lam_max the code is empty"


def test_sparse_code_recovers_a_planted_combination():
    W = _dirs()
    Wn = W / np.linalg.norm(W, axis=1, keepdims=True)
    t = 2.0 * Wn[7] + 1.0 * Wn[42]
    code = sparse_code(W, t, alpha=0.05, concept="planted")
    assert list(code.table["unit"][:2]) == [7, 42]
    assert code.table["relative"].iloc[0] == 1.0 and code.table["relative"].iloc[1] == pytest.approx(0.5, abs=0.08)
    assert code.nnz <= 4 and code.fit_cosine > 0.99
    assert (code.table["weight"] > 0).all()


def test_sparse_code_alpha_controls_sparsity_and_max_terms_caps_it():
    W, t = _dirs(seed=2), np.random.default_rng(3).normal(size=32)
    sizes = [sparse_code(W, t, alpha=a).nnz for a in (0.8, 0.4, 0.1)]
    assert sizes == sorted(sizes) and sizes[0] >= 1 and sizes[-1] > sizes[0]
    capped = sparse_code(W, t, alpha=0.01, max_terms=3)
    assert 1 <= capped.nnz <= 3 and capped.alpha > 0.01
    excl = sparse_code(W, t, alpha=0.4, exclude=[int(sparse_code(W, t, alpha=0.4).table["unit"].iloc[0])])
    assert int(sparse_code(W, t, alpha=0.4).table["unit"].iloc[0]) not in set(excl.table["unit"])


def test_sparse_code_rejects_bad_input():
    W = _dirs()
    with pytest.raises(BadInputError, match="alpha"):
        sparse_code(W, W[0], alpha=1.5)
    with pytest.raises(BadInputError, match="do not match"):
        sparse_code(W, np.ones(5))
    with pytest.raises(BadInputError, match="aligned"):
        sparse_code(np.abs(W), -np.ones(32), concept="nothing")


def test_nmf_reconstructs_a_low_rank_matrix_deterministically():
    rng = np.random.default_rng(4)
    M = rng.random((12, 3)) @ rng.random((3, 40))
    H, F, trace = nmf(M, 3, iters=2000, tol=0)
    assert (H >= 0).all() and (F >= 0).all()
    assert np.linalg.norm(M - H @ F) / np.linalg.norm(M) < 0.02
    assert all(b <= a + 1e-9 for a, b in zip(trace, trace[1:])), "multiplicative updates never increase the loss"
    np.testing.assert_allclose(np.linalg.norm(F, axis=1), 1.0)
    H2, F2, _ = nmf(M, 3, iters=2000, tol=0)
    np.testing.assert_array_equal(H, H2)
    with pytest.raises(BadInputError):
        nmf(-M, 2)
    with pytest.raises(BadInputError):
        nmf(M, 50)


def test_concept_atlas_separates_two_planted_groups():
    rng = np.random.default_rng(5)
    base = rng.normal(size=(2, 60))
    A = np.vstack([base[0] + 0.05 * rng.normal(size=60) for _ in range(4)]
                  + [base[1] + 0.05 * rng.normal(size=60) for _ in range(4)])
    names = [f"a{i}" for i in range(4)] + [f"b{i}" for i in range(4)]
    atlas = concept_atlas(A, names, 2, center=False)
    wide = atlas.loadings.pivot(index="concept", columns="factor", values="loading")
    best = wide.idxmax(axis=1)
    assert best[[f"a{i}" for i in range(4)]].nunique() == 1 and best[[f"b{i}" for i in range(4)]].nunique() == 1
    assert best["a0"] != best["b0"]
    assert set(atlas.factors.columns) == {"factor", "rank", "unit", "sign", "weight"}
    assert set(atlas.factors["sign"]) <= {"+", "-"} and atlas.factors["unit"].between(0, 59).all()
    assert set(atlas.names.values()) <= set(names) and 0 <= atlas.error < 0.5
    assert atlas.to_dict()["names"] == atlas.names


def test_model_glue_on_the_tiny_resnet(tiny_rn):
    dirs = neuron_directions(tiny_rn)
    units = tiny_rn.model.visual.layer4[0].conv3.out_channels
    assert dirs.shape == (units, 16)
    assert prompts_for("emotion") == EMOTION_PROMPTS
    with pytest.raises(BadInputError, match="Available: emotion, plain"):
        prompts_for("mood")
    t = concept_vectors(tiny_rn, ["happy", "sad"], "emotion")
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1.0, atol=1e-5)
    code = code_concept(tiny_rn, "happy", alpha=0.3)
    assert code.nnz >= 1 and code.table["unit"].between(0, units - 1).all()
    assert code.to_dict()["concept"] == "happy"
    atlas = atlas_for(tiny_rn, ["happy", "sad", "angry", "calm"], 2)
    assert len(atlas.loadings) == 8
    with pytest.raises(BadInputError):
        code_concept(tiny_rn, "   ")
    with pytest.raises(BadInputError):
        atlas_for(tiny_rn, ["happy"], 2)


def test_cli_concepts_json_codes_and_atlas(tiny_rn, capsys):
    import json

    from core.cli import main

    assert main(["concepts", "happy", "sad", "--model", "tiny-rn/random", "--alpha", "0.3", "--top", "3",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["layer"] == "visual.layer4.0.act3@in" and [c["concept"] for c in out["codes"]] == ["happy", "sad"]
    first = out["codes"][0]
    assert 1 <= len(first["terms"]) <= 3 and first["terms"][0]["relative"] == 1.0
    assert {"unit", "weight", "relative", "cosine"} <= set(first["terms"][0])
    assert main(["concepts", "--atlas", "2", "--model", "tiny-rn/random", "--json", "--kind", "plain",
                 "cat", "dog", "boat", "tree"]) == 0
    atlas = json.loads(capsys.readouterr().out)
    assert len(atlas["loadings"]) == 8 and set(atlas["names"]) == {"factor 1", "factor 2"}
    assert main(["concepts", "happy", "--model", "tiny-rn/random", "--alpha", "2"]) == 2
    assert "alpha must be between 0 and 1" in capsys.readouterr().err
    assert main(["concepts", "--model", "tiny-rn/random"]) == 2
    capsys.readouterr()
    assert main(["concepts", "happy", "sad", "--contrastive", "--model", "tiny-rn/random", "--json"]) == 0
    con = json.loads(capsys.readouterr().out)
    assert con["method"] == "l1-logistic" and {t["concept"] for t in con["terms"]} <= {"happy", "sad"}
    assert main(["concepts", "happy", "--contrastive", "--model", "tiny-rn/random"]) == 2


def test_l1_logistic_finds_the_informative_features_and_is_sparse():
    from core.analyses.concepts import l1_logistic

    rng = np.random.default_rng(6)
    y = np.repeat([0, 1, 2], 30)
    X = rng.normal(size=(90, 40))
    X[:, 3] += 3.0 * (y == 0)
    X[:, 7] += 3.0 * (y == 1)
    X[:, 9] -= 3.0 * (y == 0)
    B = l1_logistic(X, y, 0.05)
    assert B.shape == (40, 3)
    assert int(np.argmax(B[:, 0])) == 3 and int(np.argmin(B[:, 0])) == 9 and int(np.argmax(B[:, 1])) == 7
    assert (B == 0).mean() > 0.7, "L1 makes the code sparse"
    assert (l1_logistic(X, y, 10.0) == 0).all()


def test_contrastive_codes_on_the_tiny_resnet(tiny_rn):
    from core.analyses.concepts import contrastive_codes

    df = contrastive_codes(tiny_rn, ["happy", "sad", "angry"], lam=0.01, top=3)
    assert list(df.columns) == ["concept", "rank", "unit", "weight", "relative"]
    assert set(df["concept"]) <= {"happy", "sad", "angry"} and (df.groupby("concept").size() <= 3).all()
    assert df["relative"].abs().max() == pytest.approx(1.0)


def test_chart_specs_for_codes_and_atlas():
    import pandas as pd

    from core import charts

    code = pd.DataFrame({"unit": [7, 42], "weight": [0.5, 0.2], "relative": [1.0, 0.4], "cosine": [0.3, 0.2]})
    spec = charts.sparse_code_chart(code, concept="happy").to_dict()
    assert spec["mark"]["type"] == "bar" and spec["encoding"]["x"]["field"] == "relative"
    assert spec["encoding"]["y"]["field"] == "neuron" and "happy" in spec["title"]
    loadings = pd.DataFrame({"concept": ["a", "a", "b", "b"], "factor": ["factor 1", "factor 2"] * 2,
                             "loading": [1.0, 0.1, 0.0, 0.9]})
    heat = charts.atlas_loadings_chart(loadings, names={"factor 1": "a"}).to_dict()
    assert heat["mark"]["type"] == "rect" and heat["encoding"]["color"]["field"] == "loading"
    data = heat["datasets"][next(iter(heat["datasets"]))]
    assert any(r["factor"] == "factor 1 (a)" for r in data)
    plane = charts.atlas_plane_chart(loadings).to_dict()
    assert [layer["mark"]["type"] for layer in plane["layer"]] == ["circle", "text"]
    assert plane["layer"][0]["encoding"]["x"]["field"] == "f1"

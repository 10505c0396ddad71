"""A small synthetic big artifact (benchmarks/make_synthetic_artifact.py) opens in every per-unit path the pages use,
its unit-major copy is the transpose of the row-major max, and artifacts without that copy keep working."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
N, U, D = 700, 40, 16


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    sys.path.insert(0, str(REPO))
    from benchmarks.make_synthetic_artifact import make_artifact

    return make_artifact(tmp_path_factory.mktemp("bigart") / "art", N, U, D, labels=5, topk=16, block_rows=256,
                         log=lambda m: None)


def test_synthetic_artifact_is_valid_and_unit_major_is_the_transpose(synth):
    from core.pipeline.store import open_artifact

    art = open_artifact(synth)
    assert (art.rows, art.units, art.embeddings.shape) == (N, U, (N, D))
    by_unit = np.load(synth / "max_by_unit.f16.npy")
    assert by_unit.shape == (U, N) and np.array_equal(by_unit, np.asarray(art.max).T)
    assert np.array_equal(np.load(synth / "argmax_by_unit.u16.npy"), np.asarray(art.argmax).T)
    assert np.array_equal(art.unit_column(3, "argmax"), np.asarray(art.argmax[:, 3], np.int64))
    col = np.asarray(art.max, np.float32)
    for unit in (0, 8, U - 1):
        assert np.array_equal(art.unit_column(unit), col[:, unit])
        full = np.lexsort((np.arange(N), -col[:, unit]))
        assert np.array_equal(art.top_rows(unit, 16), full[:16])  # the stored top-k
        assert np.array_equal(art.top_rows(unit, 100), full[:100])  # beyond it: from the unit-major copy
    assert set(art.labels) == {f"c{c:02d}" for c in range(5)}


def test_write_unit_major_in_small_blocks(tmp_path):
    from core.pipeline.columns import write_unit_major

    a = np.random.default_rng(0).standard_normal((1001, 13)).astype(np.float16)
    np.save(tmp_path / "a.npy", a)
    write_unit_major(tmp_path / "a.npy", tmp_path / "t.npy", block_bytes=7 * 26)  # 7 rows a block, last one short
    assert np.array_equal(np.load(tmp_path / "t.npy"), a.T)


def test_card_condprob_and_search_on_the_synthetic_artifact(synth):
    from core.analyses import condprob, neuron_card
    from core.pipeline.index import load_index
    from core.pipeline.store import open_artifact

    art = open_artifact(synth)
    f = neuron_card.card_frames(art, 9, top_k=5, bottom_k=3, buckets=4, per_bucket=2, similar=3)
    assert list(f.top["value"]) == sorted(f.top["value"], reverse=True) and len(f.bottom) == 3
    assert (f.top["label"] == "c01").all()  # unit 8 + c fires on class c
    assert f.histogram["count"].sum() == N and f.similar_rows == N and not f.similar_sampled
    df = condprob.sample_buckets(neuron_card.unit_values(art, 9), art.labels, buckets=5, per_bucket=10,
                                 std=float(art.unit_std[9]))
    assert condprob.category_fractions(df).groupby("bucket")["fraction"].sum().round(6).eq(1).all()
    scores, rows = load_index(art).search(np.asarray(art.embeddings[:2], np.float32), 3)
    assert rows[:, 0].tolist() == [0, 1]


def test_similar_sample_above_the_threshold_is_close_to_exact(synth):
    from core.analyses import neuron_card
    from core.pipeline.store import open_artifact

    art = open_artifact(synth)
    z = neuron_card.similar_sample(art, rows=350)
    assert z.shape == (350, U)
    exact = neuron_card.similar_by_correlation(np.asarray(art.max), 3, top=U - 1).set_index("unit")["correlation"]
    approx = neuron_card.similar_by_correlation(z, 3, top=U - 1, standardized=True).set_index("unit")["correlation"]
    assert np.abs(exact - approx.reindex(exact.index)).max() < 0.2


def test_card_cli_json(synth, capsys):
    from core.cli import main

    assert main(["card", "--index", str(synth), "--neuron", "9", "--top", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["neuron"] == 9 and out["rows"] == N and len(out["top"]) == 4 and len(out["histogram"]) == 40
    assert [r["value"] for r in out["top"]] == sorted((r["value"] for r in out["top"]), reverse=True)
    first = out["top"][0]
    assert first["cell"] == list(divmod(first["argmax"], 9)) and first["label"] == "c01"
    assert out["top_labels"][0]["label"] == "c01" and out["across"] and out["similar"]
    assert main(["card", "--index", str(synth), "--neuron", str(U), "--json"]) == 2
    assert "out of range" in json.loads(capsys.readouterr().out)["error"]


def test_artifact_without_unit_major_copy_reads_columns(synth, tmp_path):
    from core.analyses import neuron_card
    from core.pipeline.store import open_artifact

    old = tmp_path / "old"
    shutil.copytree(synth, old)
    (old / "max_by_unit.f16.npy").unlink()
    (old / "argmax_by_unit.u16.npy").unlink()
    m = json.loads((old / "manifest.json").read_text())
    del m["unit_major"]
    (old / "manifest.json").write_text(json.dumps(m))
    art, new = open_artifact(old), open_artifact(synth)
    assert art.unit_major() is None and art.unit_major("argmax") is None
    assert np.array_equal(neuron_card.unit_at(art, 5, [3, 1]), neuron_card.unit_at(new, 5, [3, 1]))
    assert np.array_equal(neuron_card.unit_at(art, 5, [3, 1], "argmax"), neuron_card.unit_at(new, 5, [3, 1], "argmax"))
    assert np.array_equal(art.unit_column(5), new.unit_column(5))
    assert np.array_equal(art.top_rows(5, 50), new.top_rows(5, 50))
    a, b = neuron_card.card_frames(art, 5), neuron_card.card_frames(new, 5)
    assert a.top.equals(b.top) and a.histogram.equals(b.histogram) and a.across.equals(b.across)


def test_truncated_unit_major_copy_is_an_artifact_error(synth, tmp_path):
    from core.errors import ArtifactError
    from core.pipeline.store import open_artifact

    bad = tmp_path / "bad"
    shutil.copytree(synth, bad)
    with open(bad / "max_by_unit.f16.npy", "r+b") as fh:
        fh.truncate(1000)
    with pytest.raises(ArtifactError, match="max_by_unit"):
        open_artifact(bad)


@pytest.mark.parametrize("keep", [None, 2])
def test_coded_categories_give_the_same_condprob_frames(synth, keep):
    from core.analyses import condprob
    from core.pipeline.store import open_artifact

    art = open_artifact(synth)
    labels = [lab if r % 7 else "" for r, lab in enumerate(art.labels)]  # some unlabelled rows
    cats = condprob.categories(labels, art.rows, keep)
    values = art.unit_column(10)
    a = condprob.sample_buckets(values, labels, buckets=7, per_bucket=9, keep=keep)
    b = condprob.sample_buckets(values, cats, buckets=7, per_bucket=9, keep=keep)
    assert a.equals(b) and len(cats) == art.rows
    assert condprob.category_distributions(values, labels, keep=keep).equals(
        condprob.category_distributions(values, cats, keep=keep))
    none = condprob.categories(None, art.rows)
    assert condprob.sample_buckets(values, None, buckets=3).equals(condprob.sample_buckets(values, none, buckets=3))

"""CLI condprob and attack: text and --json output, one-line errors (exit 2)."""
from __future__ import annotations

import json

import pytest

from core.cli import main


@pytest.fixture(scope="module")
def indexed(tiny_rn, tmp_path_factory):
    from tests.conftest import make_image_folder

    base = tmp_path_factory.mktemp("cp")
    images = make_image_folder(base / "images")
    assert main(["index", "--model", "tiny-rn/random", "--images", str(images), "--out", str(base / "art"),
                 "--workers", "0", "--batch-size", "6", "--no-progress"]) == 0
    return base


def test_condprob_json_fractions_sum_to_one(indexed, capsys):
    code = main(["condprob", "--index", str(indexed / "art"), "--neuron", "3", "--buckets", "4", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["unit"] == 3 and out["labels"] == "collection"
    assert 1 <= len(out["buckets"]) <= 4
    for b in out["buckets"]:
        assert abs(sum(b["fractions"].values()) - 1) < 1e-3 and b["n"] >= 1
    assert {c["label"] for c in out["categories"]} <= {"cat", "dog", "boat"}
    assert sum(c["n"] for c in out["categories"]) == 12


def test_condprob_text_and_zero_shot(indexed, capsys):
    assert main(["condprob", "--index", str(indexed / "art"), "--neuron", "0"]) == 0
    assert "bucket" in capsys.readouterr().out
    assert main(["condprob", "--index", str(indexed / "art"), "--neuron", "0", "--classes", "red, blue", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["labels"] == "zero-shot" and {c["label"] for c in out["categories"]} <= {"red", "blue"}


@pytest.mark.parametrize("neuron, message", [("99999", "out of range"), ("x", "not a unit"),
                                             ("other.layer:2", "holds layer")])
def test_condprob_bad_unit(indexed, capsys, neuron, message):
    assert main(["condprob", "--index", str(indexed / "art"), "--neuron", neuron]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_attack_json(indexed, tmp_path, capsys):
    img = next((indexed / "images" / "cat").iterdir())
    out_png = tmp_path / "after.png"
    code = main(["attack", "--model", "tiny-rn/random", "--image", str(img), "--text", "dog", "--classes",
                 "cat, dog, boat", "--top", "3", "--out", str(out_png), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["target"] == "dog" and out["classes"] == ["cat", "dog", "boat"]
    assert 0 < out["cover"] <= 0.5 and len(out["probs"]) == 3 and len(out["risers"]) <= 3
    assert out_png.is_file()


def test_attack_adds_the_word_and_reports_errors(indexed, capsys):
    img = next((indexed / "images" / "dog").iterdir())
    assert main(["attack", "--model", "tiny-rn/random", "--image", str(img), "--text", "iPod",
                 "--classes", "cat, dog"]) == 0
    assert "iPod" in capsys.readouterr().out
    assert main(["attack", "--model", "tiny-rn/random", "--image", "/nonexistent.png", "--text", "x", "--json"]) == 2
    assert "error" in json.loads(capsys.readouterr().out)

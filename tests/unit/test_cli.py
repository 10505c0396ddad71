"""CLI contract: index / neurons / images, --json output, exit code 2 with a one-line error on bad input."""
from __future__ import annotations

import json

import pytest

from core.cli import main


@pytest.fixture(scope="module")
def indexed_dir(tiny_rn, tmp_path_factory):
    from tests.conftest import make_image_folder

    base = tmp_path_factory.mktemp("cli")
    images = make_image_folder(base / "images")
    assert main(["index", "--model", "tiny-rn/random", "--images", str(images), "--out", str(base / "art"),
                 "--workers", "0", "--batch-size", "5", "--no-progress"]) == 0
    return base


def run(capsys, args):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_index_json_summary_and_rerun_is_a_noop(indexed_dir, capsys):
    code, out, _ = run(capsys, ["index", "--model", "tiny-rn/random", "--images", str(indexed_dir / "images"),
                                "--out", str(indexed_dir / "art"), "--workers", "0", "--no-progress", "--json"])
    data = json.loads(out)
    assert code == 0 and data["rows"] == 12 and data["index"] == "flat" and data["skipped"] == []


def test_images_and_neurons_json(indexed_dir, capsys):
    art = str(indexed_dir / "art")
    code, out, _ = run(capsys, ["images", "--index", art, "--query", "a dog", "--top", "3", "--json"])
    res = json.loads(out)
    assert code == 0 and len(res["images"]) == 3 and res["model"] == "tiny-rn/random"
    assert {"rank", "row", "key", "label", "score", "path"} <= set(res["images"][0])
    img = str(indexed_dir / "images" / "cat" / "2.png")
    code, out, _ = run(capsys, ["images", "--index", art, "--image", img, "--top", "12", "--json"])
    hits = json.loads(out)["images"]
    mine = next(h for h in hits if h["key"] == "cat/2.png")  # random tiny model: near-ties, so not always first
    assert code == 0 and mine["score"] >= hits[0]["score"] - 1e-3
    code, out, _ = run(capsys, ["neurons", "--model", "tiny-rn/random", "--query", "spider", "--top", "4", "--json"])
    res = json.loads(out)
    assert code == 0 and len(res["neurons"]) == 4 and res["neurons"][0]["neuron"].startswith("visual.layer4.0.act3@in:")
    code, out, _ = run(capsys, ["neurons", "--model", "tiny-rn/random", "--image", img, "--index", art, "--json"])
    res = json.loads(out)
    assert code == 0 and res["scaled_by_std"] and res["neurons"][0]["z"] is not None
    code, out, _ = run(capsys, ["neurons", "--model", "tiny-rn/random", "--query", "spider"])
    assert code == 0 and "visual.layer4.0.act3@in:" in out  # the human-readable table


@pytest.mark.parametrize("args, message", [
    (["index", "--model", "tiny-rn/random", "--images", "/nonexistent/x", "--out", "{tmp}/o"], "not found"),
    (["neurons", "--model", "tiny-rn/random", "--query", "  "], "Empty text query"),
    (["neurons", "--model", "tiny-rn/random", "--query", "a", "--image", "b.png"], "not allowed with"),
    (["neurons", "--model", "tiny-rn/random"], "one of the arguments"),
    (["neurons", "--model", "tiny-rn/random", "--query", "a", "--layer", "visual.nope"], "No layer"),
    (["neurons", "--model", "tiny-rn/random", "--image", "{tmp}/missing.png"], "file not found"),
    (["neurons", "--model", "tiny-vit/random", "--query", "a", "--index", "{art}"], "made with model tiny-rn"),
    (["images", "--index", "{tmp}/none", "--query", "a"], "does not exist"),
    (["images", "--index", "{art}", "--query", "a", "--top", "0"], "top must be"),
])
def test_bad_input_exits_2_with_one_line(indexed_dir, tmp_path, capsys, args, message):
    args = [a.format(tmp=tmp_path, art=indexed_dir / "art") for a in args]
    code = main(args)  # argparse's usage errors too: main returns 2, no SystemExit
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert message in err and err.count("\n") == 1 and err.startswith("error:")
    code = main(args + ["--json"])  # the same error as one JSON object on stdout
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert code == 2 and message in data["error"] and data["kind"] and err == ""

"""The CLI's error contract beyond one command: --json errors, environment errors, validated numbers,
explicit empty values, and start-up imports (no torch for --help / models)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _run(capsys, args):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def _assert_one_line_error(code, out, err, message):
    assert code == 2 and out == "", (code, out, err)
    assert err.startswith("error:") and err.count("\n") == 1 and message in err, err


def test_json_core_error_goes_to_stdout_as_an_object(tmp_path, capsys):
    code, out, err = _run(capsys, ["images", "--index", str(tmp_path / "none"), "--query", "a", "--json"])
    data = json.loads(out)
    assert code == 2 and err == "" and "does not exist" in data["error"] and data["kind"] == "ArtifactError"


def test_json_usage_error_goes_to_stdout_as_an_object(capsys):
    code, out, err = _run(capsys, ["neurons", "--json"])  # the query option is required
    data = json.loads(out)
    assert code == 2 and err == "" and data["kind"] == "usage" and "one of the arguments" in data["error"]
    code, out, _ = _run(capsys, ["nosuchcommand", "--json"])
    assert code == 2 and json.loads(out)["kind"] == "usage"


@pytest.mark.parametrize("args, message", [
    (["render", "--neuron", "1", "--out", "{tmp}/x.png", "--strength", "nan"], "finite"),
    (["render", "--neuron", "1", "--out", "{tmp}/x.png", "--strength", "inf"], "finite"),
    (["render", "--neuron", "1", "--out", "{tmp}/x.png", "--seed", "12345678901234567890"], "--seed"),
    (["render", "--neuron", "1", "--out", "{tmp}/x.png", "--seed", "-1"], "--seed"),
    (["render", "--neuron", "1", "--out", "{tmp}/x.png", "--steps", "99999999999999999999"], "--steps"),
    (["neurons", "--query", "a", "--top", "1e400"], "not an integer"),
    (["neurons", "--query", "a", "--top", "123456789012345678901234"], "--top"),
    (["intervene", "--unit", "1", "--value=-inf", "x.png"], "finite"),
    (["attack-eval", "--area", "nan"], "finite"),
    (["concepts", "happy", "--alpha", "NaN"], "finite"),
    (["eval-demo", "--seed", "99999999999999999999"], "--seed"),
])
def test_hostile_numbers_are_refused_before_any_work(tmp_path, capsys, args, message):
    args = [a.format(tmp=tmp_path) for a in args]
    code, out, err = _run(capsys, args)
    _assert_one_line_error(code, out, err, message)
    assert not (tmp_path / "x.png").exists()


def test_render_out_in_a_missing_folder_is_refused_and_creates_nothing(tmp_path, capsys):
    out = tmp_path / "no" / "such" / "dir" / "x.png"
    code, stdout, err = _run(capsys, ["render", "--neuron", "1", "--out", str(out)])
    _assert_one_line_error(code, stdout, err, "does not exist")
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("command", [["layers"], ["neurons", "--query", "a"], ["render", "--neuron", "1"]])
def test_an_explicitly_empty_model_id_is_an_error(tmp_path, capsys, command):
    args = command + ["--model", "  "] + (["--out", str(tmp_path / "x.png")] if command[0] == "render" else [])
    code, out, err = _run(capsys, args)
    _assert_one_line_error(code, out, err, "--model is empty")


def test_index_out_under_proc_is_one_line(tiny_rn, image_folder, capsys):
    code, out, err = _run(capsys, ["index", "--model", "tiny-rn/random", "--images", str(image_folder),
                                   "--out", "/proc/clip-explorer-test/x", "--workers", "0", "--no-progress"])
    _assert_one_line_error(code, out, err, "/proc/clip-explorer-test/x")


def test_disk_full_names_the_file(tiny_rn, capsys):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    code, out, err = _run(capsys, ["stroop", "--model", "tiny-rn/random", "--colors", "red", "blue",
                                   "--out", "/dev/full"])
    assert code == 2 and err.startswith("error: no space left") and "/dev/full" in err and err.count("\n") == 1


def _modules_after(args: list[str]) -> set[str]:
    code = ("import sys; from core.cli import main; sys.stdout = open('/dev/null', 'w'); "
            f"rc = main({args!r}); sys.stdout = sys.__stdout__; "
            "print(' '.join(m for m in ('torch', 'open_clip', 'pandas', 'PIL') if m in sys.modules))")
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    return set(res.stdout.split())


def test_help_and_models_do_not_import_torch():
    assert _modules_after(["models"]) & {"torch", "open_clip", "pandas"} == set()
    assert _modules_after(["models", "--json"]) & {"torch", "open_clip", "pandas"} == set()
    res = subprocess.run([sys.executable, "-X", "importtime", "-m", "core", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    imported = {line.split("|")[-1].strip() for line in res.stderr.splitlines() if line.startswith("import time:")}
    assert res.returncode == 0 and not imported & {"torch", "open_clip", "pandas", "numpy"}


def test_menu_hub_repositories_match_open_clip():
    import open_clip

    from core.model.weights import menu_entries

    for e in menu_entries():
        if e.get("hf_hub"):
            arch, tag = e["id"].split("/")
            assert open_clip.get_pretrained_cfg(arch, tag)["hf_hub"] == e["hf_hub"], e["id"]


def test_a_diverged_render_is_not_cached(tiny_rn, tmp_path, monkeypatch):
    import numpy as np

    from core.featurevis.cache import store
    from core.featurevis.render import RenderResult

    monkeypatch.setenv("CLIP_EXPLORER_ARTIFACTS", str(tmp_path))
    bad = RenderResult(images=np.full((1, 8, 8, 3), np.nan, np.float32), losses=[float("nan")], steps=1,
                       steps_done=1, objective="x:1", seed=0)
    assert store(tiny_rn, bad, steps=1) is None
    assert not list(tmp_path.rglob("*.npz"))


# ---------------------------------------------------------------- long text queries

def test_a_query_longer_than_the_context_is_flagged(tiny_rn, capsys):
    long = " ".join(["spider"] * 40)  # 42 tokens; the tiny model reads 16
    code, out, err = _run(capsys, ["neurons", "--model", "tiny-rn/random", "--query", long, "--json"])
    data = json.loads(out)
    assert code == 0 and data["truncated"] is True and data["query_tokens"] == 42 and data["context_tokens"] == 16
    assert err.startswith("warning: the query is 42 tokens long") and err.count("\n") == 1
    code, out, err = _run(capsys, ["neurons", "--model", "tiny-rn/random", "--query", "spider", "--json"])
    assert code == 0 and json.loads(out)["truncated"] is False and err == ""


def test_an_absurdly_long_query_is_refused(tiny_rn, capsys):
    code, out, err = _run(capsys, ["neurons", "--model", "tiny-rn/random", "--query", "a" * 100_000])
    _assert_one_line_error(code, out, err, "100,000 characters")


def test_check_query_is_reusable(tiny_rn):
    from core.analyses.search import MAX_QUERY_CHARS, check_query
    from core.errors import BadInputError

    c = check_query(tiny_rn, "  a red spider  ")
    assert c.text == "a red spider" and not c.truncated and c.warning() is None
    assert check_query(tiny_rn, "word " * 30).truncated
    with pytest.raises(BadInputError, match="at most"):
        check_query(tiny_rn, "x" * (MAX_QUERY_CHARS + 1))
    with pytest.raises(BadInputError, match="Empty"):
        check_query(tiny_rn, "   ")

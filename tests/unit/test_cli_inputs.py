"""Hostile inputs to indexing and the CLI: named pipes, files swapped after listing, glob characters in folder
names, overwrite/lock safety of artifacts, odd TIFFs. Real files, FIFOs and processes; no mocks."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.cli import main
from core.collections import read_collection
from core.extract import run_extraction
from core.store import PARTIAL_DIR, open_artifact
from tests.conftest import make_image_folder

REPO = Path(__file__).resolve().parents[2]
_CLI = ("import sys; sys.path.insert(0, {repo!r}); from tests.conftest import register_tiny_configs; "
        "register_tiny_configs(); from core.cli import main; sys.exit(main(sys.argv[1:]))")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _cli(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    """The CLI in a fresh process, killed after ``timeout`` seconds (a hang is a failure, not a stuck suite)."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-c", _CLI.format(repo=str(REPO)), *args], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"hung for {timeout} s: {args}")
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


# ---------------------------------------------------------------- named pipes, swapped files

def test_a_fifo_in_a_collection_folder_is_listed_as_rejected(tmp_path):
    root = make_image_folder(tmp_path / "imgs", n_per_class=1)
    os.mkfifo(root / "cat" / "pipe.png")
    c = read_collection(root)
    assert "cat/pipe.png" not in c.keys and len(c.keys) == 3
    assert [(r["key"], r["reason"]) for r in c.rejected] == [("cat/pipe.png", "not-a-file")]


def test_a_fifo_listed_in_a_table_is_skipped_not_waited_on(tiny_rn, tmp_path):
    root = make_image_folder(tmp_path / "imgs", n_per_class=1)
    os.mkfifo(root / "pipe.png")
    (tmp_path / "list.csv").write_text("path\n" + "\n".join(["imgs/cat/0.png", "imgs/dog/0.png", "imgs/pipe.png"]))
    res = _cli(["index", "--model", "tiny-rn/random", "--images", str(tmp_path / "list.csv"), "--out",
                str(tmp_path / "art"), "--workers", "0", "--no-progress", "--json"], timeout=180)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["rows"] == 2 and [(s["key"], s["reason"]) for s in data["skipped"]] == [("imgs/pipe.png", "not-a-file")]


@pytest.mark.parametrize("command", [["neurons", "--model", "tiny-rn/random", "--image"],
                                     ["intervene", "--model", "tiny-rn/random", "--unit", "1"]])
def test_a_fifo_as_the_image_argument_is_an_error_not_a_hang(tmp_path, command):
    fifo = tmp_path / "x.png"
    os.mkfifo(fifo)
    res = _cli([*command, str(fifo)], timeout=90)
    assert res.returncode == 2 and res.stderr.startswith("error:") and "named pipe" in res.stderr, res.stderr
    assert res.stderr.count("\n") == 1


def test_a_file_swapped_for_a_symlink_after_listing_is_not_read(tiny_rn, tmp_path):
    root = make_image_folder(tmp_path / "imgs", n_per_class=2)
    secret = tmp_path / "secret.png"
    Image.new("RGB", (48, 48), (250, 0, 0)).save(secret)
    coll = read_collection(root)  # listed while cat/0.png is a regular file...
    (root / "cat" / "0.png").unlink()
    (root / "cat" / "0.png").symlink_to(secret)  # ...then swapped for a link out of the collection
    (root / "dog" / "1.png").unlink()
    os.mkfifo(root / "dog" / "1.png")  # and another one for a FIFO
    art = run_extraction(tiny_rn, coll, tmp_path / "art", workers=0)
    reasons = {s["key"]: s["reason"] for s in art.skipped}
    assert reasons == {"cat/0.png": "outside-root", "dog/1.png": "not-a-file"} and art.rows == 4
    assert "cat/0.png" not in art.keys


def test_a_symlink_inside_the_root_still_works(tiny_rn, tmp_path):
    root = make_image_folder(tmp_path / "imgs", n_per_class=1)
    (root / "dog" / "alias.png").symlink_to(root / "cat" / "0.png")
    art = run_extraction(tiny_rn, root, tmp_path / "art", workers=0)
    assert "dog/alias.png" in art.keys and art.skipped == []

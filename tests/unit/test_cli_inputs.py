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
from core.pipeline.collection import read_collection
from core.pipeline.extract import run_extraction
from core.pipeline.layout import PARTIAL_DIR
from core.pipeline.store import open_artifact
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


# ---------------------------------------------------------------- --overwrite, leftovers, the writer lock

def _index(out, images, *extra):
    return ["index", "--model", "tiny-rn/random", "--images", str(images), "--out", str(out), "--workers", "0",
            "--no-progress", *extra]


def _all_bad(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for i in range(3):
        (folder / f"{i}.png").write_bytes(b"not a png at all")
    return folder


def test_overwrite_with_unreadable_images_keeps_the_good_artifact(tiny_rn, image_folder, tmp_path, capsys):
    out = tmp_path / "art"
    assert main(_index(out, image_folder)) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    capsys.readouterr()
    code = main(_index(out, _all_bad(tmp_path / "allbad"), "--overwrite"))
    _, err = capsys.readouterr()
    assert code == 2 and "None of the 3 images" in err and "unchanged" in err and err.count("\n") == 1
    assert open_artifact(out).rows == 12 and not (out / PARTIAL_DIR).exists()
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_the_old_artifact_stays_readable_until_the_new_one_is_installed(tiny_rn, image_folder, tmp_path):
    out = tmp_path / "art"
    run_extraction(tiny_rn, image_folder, out, workers=0)
    other = make_image_folder(tmp_path / "other", n_per_class=2, seed=3)
    seen = []
    new = run_extraction(tiny_rn, other, out, workers=0, overwrite=True, batch_size=2,
                         progress=lambda d, n: seen.append(open_artifact(out).rows))
    assert seen and set(seen) == {12} and new.rows == 6 and open_artifact(out).rows == 6
    assert not (out / PARTIAL_DIR).exists()


def test_a_run_killed_after_its_commit_point_is_installed_on_next_open(tiny_rn, image_folder, tmp_path, monkeypatch):
    import core.pipeline.partial as partial

    out = tmp_path / "art"
    run_extraction(tiny_rn, image_folder, out, workers=0)
    other = make_image_folder(tmp_path / "other", n_per_class=2, seed=3)

    def killed(path):
        raise KeyboardInterrupt  # dies right after the staged manifest (the commit point) is written

    monkeypatch.setattr(partial, "commit_staged", killed)
    with pytest.raises(KeyboardInterrupt):
        run_extraction(tiny_rn, other, out, workers=0, overwrite=True)
    monkeypatch.undo()
    art = open_artifact(out)  # rolls the committed run forward
    assert art.rows == 6 and not (out / PARTIAL_DIR).exists() and art.keys[0].startswith("boat/")


def test_a_leftover_work_folder_of_a_finished_run_is_removed(tiny_rn, image_folder, tmp_path, monkeypatch):
    import core.pipeline.commit as store

    out = tmp_path / "art"
    real_rmtree = store.shutil.rmtree
    monkeypatch.setattr(store.shutil, "rmtree", lambda *a, **k: None)  # killed between install and cleanup
    run_extraction(tiny_rn, image_folder, out, workers=0)
    monkeypatch.setattr(store.shutil, "rmtree", real_rmtree)
    assert (out / PARTIAL_DIR).is_dir()
    assert open_artifact(out).rows == 12 and not (out / PARTIAL_DIR).exists()


def test_a_leftover_state_of_the_installed_run_is_removed_on_the_next_run(tiny_rn, image_folder, tmp_path):
    out = tmp_path / "art"
    run_extraction(tiny_rn, image_folder, out, workers=0, chunk_rows=4)
    # what an older version left when killed between the manifest and the cleanup: the finished run's state
    work = tmp_path / "w"
    with pytest.raises(KeyboardInterrupt):
        run_extraction(tiny_rn, image_folder, work, workers=0, chunk_rows=4,
                       progress=lambda d, n: (_ for _ in ()).throw(KeyboardInterrupt()) if d >= 12 else None)
    (work / PARTIAL_DIR).rename(out / PARTIAL_DIR)
    calls = []
    assert run_extraction(tiny_rn, image_folder, out, workers=0, chunk_rows=4,
                          progress=lambda d, n: calls.append(d)).rows == 12
    assert calls == [12] and not (out / PARTIAL_DIR).exists()


def test_a_second_run_into_the_same_out_is_refused(tiny_rn, image_folder, tmp_path, capsys):
    from core.pipeline.commit import artifact_lock

    out = tmp_path / "art"
    with artifact_lock(out):  # another run holds --out
        code = main(_index(out, image_folder))
        _, err = capsys.readouterr()
        assert code == 2 and "Another run is writing into" in err and err.count("\n") == 1
        code = main(_index(out, image_folder, "--json"))
        out_text, _ = capsys.readouterr()
        assert code == 2 and "Another run" in json.loads(out_text)["error"]
    assert main(_index(out, image_folder)) == 0  # the lock goes with the run
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


# ---------------------------------------------------------------- glob characters in real names

@pytest.mark.parametrize("name", ["brack [2024]", "star*", "what?", "[ab]"])
def test_an_existing_folder_with_glob_characters_is_taken_literally(tmp_path, name):
    from core.pipeline.ray_engine import read_image_list

    root = make_image_folder(tmp_path / name, n_per_class=1)
    make_image_folder(tmp_path / "brack 2", n_per_class=2)  # what "[2024]" as a character class would match
    c = read_image_list(str(root))
    assert c.kind == "folder" and c.root == root.resolve() and len(c.keys) == 3


def test_a_glob_inside_a_folder_with_brackets_finds_its_shards(tmp_path):
    from core.pipeline.ray_engine import read_image_list

    folder = tmp_path / "shards [v2]"
    make_image_folder(folder / "imgs", n_per_class=1)
    for i, cls in enumerate(("cat", "dog")):
        (folder / f"part-{i}.csv").write_text(f"path\nimgs/{cls}/0.png\n")
    c = read_image_list(str(folder / "part-*.csv"))
    assert c.keys == ["imgs/cat/0.png", "imgs/dog/0.png"]


def test_cli_index_of_a_bracketed_folder(tiny_rn, tmp_path, capsys):
    root = make_image_folder(tmp_path / "brack [2024]", n_per_class=1)
    assert main(_index(tmp_path / "art", root, "--json")) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 3


# ---------------------------------------------------------------- float and deep TIFFs

def _gradient(dtype, lo, hi, shape=(32, 48)):
    return np.linspace(lo, hi, shape[0] * shape[1]).reshape(shape).astype(dtype)


@pytest.mark.parametrize("arr, mode", [
    (_gradient(np.float32, 0.0, 1.0), "F"),  # the usual float picture: 0..1
    (_gradient(np.float32, -3.5, 1e4), "F"),  # radiance / depth: any range
    (_gradient(np.uint16, 0, 4095), "I;16"),  # 12-bit sensor data in a 16-bit file
    (_gradient(np.uint16, 0, 65535), "I;16"),
])
def test_float_and_deep_tiffs_load_as_a_visible_gradient(tmp_path, arr, mode):
    from core.pipeline.images import open_image

    path = tmp_path / "x.tif"
    (Image.fromarray(arr, mode="F") if mode == "F" else Image.fromarray(arr)).save(path)
    assert Image.open(path).mode == mode
    img = np.asarray(open_image(path), dtype=np.float64)
    assert img.shape == (*arr.shape, 3)
    assert img.min() <= 2 and img.max() >= 253 and 100 < img.mean() < 155  # the full range, not black


def test_a_float_tiff_with_nan_and_inf_loads(tmp_path):
    from core.pipeline.images import open_image

    arr = _gradient(np.float32, 0.0, 2.0)
    arr[0, :5] = np.nan
    arr[1, :5] = np.inf
    Image.fromarray(arr, mode="F").save(tmp_path / "x.tif")
    img = np.asarray(open_image(tmp_path / "x.tif"))
    assert img[0, 0, 0] == 0 and img.max() == 255 and img[-1, -1, 0] == 255

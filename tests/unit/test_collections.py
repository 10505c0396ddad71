"""Collections: folder trees and tables, keys and labels, the demo index (built once, under a lock)."""
from __future__ import annotations

import threading

import pandas as pd
import pytest
from PIL import Image

from core.errors import BadInputError
from core.pipeline.collection import discover_collections, read_collection
from core.pipeline.demo import ensure_demo_index
from tests.conftest import make_image_folder


def test_folder_keys_are_sorted_posix_paths_with_first_level_labels(tmp_path):
    root = make_image_folder(tmp_path / "imgs", n_per_class=2)
    (root / "cat" / "deep").mkdir()
    Image.new("RGB", (8, 8)).save(root / "cat" / "deep" / "x.PNG")
    Image.new("RGB", (8, 8)).save(root / "top.jpg")
    (root / "cat" / "readme.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    Image.new("RGB", (8, 8)).save(root / ".hidden" / "h.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "outside.png")
    (root / "dog" / "link.png").symlink_to(tmp_path / "outside.png")  # escapes the root
    c = read_collection(root)
    assert c.keys == sorted(c.keys) and "cat/deep/x.PNG" in c.keys and "top.jpg" in c.keys
    assert c.labels[c.keys.index("cat/deep/x.PNG")] == "cat" and c.labels[c.keys.index("top.jpg")] == ""
    assert not any("hidden" in k or k.endswith(".txt") for k in c.keys)
    assert [r["reason"] for r in c.rejected] == ["outside-root"]


def test_csv_and_parquet_tables(tmp_path):
    root = make_image_folder(tmp_path / "imgs", n_per_class=2)
    rows = [{"path": "imgs/dog/1.png", "label": "dog", "caption": "a dog"},
            {"path": str(root / "cat" / "0.png"), "label": "cat", "caption": "a cat"},
            {"path": "imgs/cat/0.png", "label": "cat", "caption": "dup"},
            {"path": "../outside.png", "label": "x", "caption": ""}]
    pd.DataFrame(rows).to_csv(tmp_path / "list.csv", index=False)
    c = read_collection(tmp_path / "list.csv")
    assert c.keys == ["imgs/cat/0.png", "imgs/dog/1.png"] and c.labels == ["cat", "dog"]
    assert c.captions == ["a cat", "a dog"] and c.root == tmp_path.resolve()
    assert sorted(r["reason"] for r in c.rejected) == ["duplicate", "outside-root"]
    pd.DataFrame(rows[:2]).rename(columns={"path": "filepath"}).to_parquet(tmp_path / "list.parquet")
    assert read_collection(tmp_path / "list.parquet").keys == c.keys


def test_bad_sources(tmp_path):
    with pytest.raises(BadInputError, match="not found"):
        read_collection(tmp_path / "missing")
    (tmp_path / "e").mkdir()
    with pytest.raises(BadInputError, match="No images"):
        read_collection(tmp_path / "e")
    pd.DataFrame({"url": ["a.png"]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(BadInputError, match="no path column"):
        read_collection(tmp_path / "t.csv")
    (tmp_path / "x.zip").write_bytes(b"PK")
    with pytest.raises(BadInputError, match="neither a folder nor a table"):
        read_collection(tmp_path / "x.zip")


def test_ensure_demo_index_builds_once_even_when_called_concurrently(tiny_rn, tmp_path):
    calls = []

    def materialize(dest):
        calls.append(dest)
        make_image_folder(dest / "images", n_per_class=2)
        keys = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.png"))
        pd.DataFrame({"path": keys, "label": [k.split("/")[1] for k in keys],
                      "caption": [f"a {k.split('/')[1]}" for k in keys]}).to_csv(dest / "collection.csv", index=False)
        return dest

    results, errors = [], []

    def worker():
        try:
            results.append(ensure_demo_index(loaded=tiny_rn, artifacts_dir=tmp_path, materialize=materialize))
        except Exception as err:  # surfaced below
            errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(calls) == 1
    art = results[0]
    assert art.path == (tmp_path / "indexes" / "demo--tiny-rn-random").resolve() and art.rows == 6
    assert art.captions[0].startswith("a ") and (art.path / "index.faiss").is_file()
    progress = []
    again = ensure_demo_index(lambda d, n: progress.append(d), loaded=tiny_rn, artifacts_dir=tmp_path,
                              materialize=materialize)
    assert again.manifest["run_id"] == art.manifest["run_id"] and len(calls) == 1 and not progress
    found = discover_collections(tmp_path, model=tiny_rn)
    assert [i.path for i in found] == [art.path]

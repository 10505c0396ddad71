"""Artifact store: manifest checks, mismatch and corruption errors, safe image paths, discovery."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.errors import ArtifactError, ArtifactMismatchError, UnitOutOfRangeError
from core.pipeline.extract import run_extraction
from core.pipeline.layout import MANIFEST
from core.pipeline.store import RowFile, list_artifacts, open_artifact
from tests.conftest import make_image_folder


@pytest.fixture(scope="module")
def built(tiny_rn, tmp_path_factory):
    base = tmp_path_factory.mktemp("store")
    images = make_image_folder(base / "images")
    return run_extraction(tiny_rn, images, base / "art", workers=0, topk=4).path


def copy_artifact(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_open_with_the_same_model_and_layer(built, tiny_rn):
    art = open_artifact(built, expect=tiny_rn, layer="visual.layer4.0.act3@in")
    assert art.rows == 12 and len(art.keys) == 12 and art.embeddings.shape == (12, 16)
    assert isinstance(art.max, np.memmap) and not art.max.flags.writeable
    assert all(art.image_path(r).is_relative_to(art.root) for r in range(art.rows))
    with pytest.raises(UnitOutOfRangeError, match="0..255"):
        art.top_rows(256)


def test_manifest_mismatch_is_a_clear_error(built, tiny_vit):
    with pytest.raises(ArtifactMismatchError, match=r"made with model tiny-rn/random .* loaded model is tiny-vit"):
        open_artifact(built, expect=tiny_vit)
    with pytest.raises(ArtifactMismatchError, match="holds layer visual.layer4.0.act3@in"):
        open_artifact(built, layer="visual.layer3.0")


def test_missing_incomplete_and_corrupt_artifacts_refuse_to_load(built, tmp_path):
    with pytest.raises(ArtifactError, match="does not exist"):
        open_artifact(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArtifactError, match="not an artifact"):
        open_artifact(tmp_path / "empty")
    bad = copy_artifact(built, tmp_path / "trunc")
    data = (bad / "max.f16.npy").read_bytes()
    (bad / "max.f16.npy").write_bytes(data[: len(data) // 2])  # a truncated array file
    with pytest.raises(ArtifactError, match="max.f16.npy"):
        open_artifact(bad)
    half = copy_artifact(built, tmp_path / "half")
    m = json.loads((half / MANIFEST).read_text())
    (half / MANIFEST).write_text(json.dumps(m | {"complete": False}))
    with pytest.raises(ArtifactError, match="incomplete"):
        open_artifact(half)
    (half / MANIFEST).write_text("{not json")
    with pytest.raises(ArtifactError, match="unreadable"):
        open_artifact(half)
    wrong = copy_artifact(built, tmp_path / "rows")
    (wrong / MANIFEST).write_text(json.dumps(m | {"rows": 13}))
    with pytest.raises(ArtifactError, match="expected"):
        open_artifact(wrong)


def test_keys_escaping_the_root_are_refused(built, tmp_path):
    evil = copy_artifact(built, tmp_path / "evil")
    keys = json.loads((evil / "keys.json").read_text())
    keys[3] = "../../etc/passwd"
    (evil / "keys.json").write_text(json.dumps(keys))
    art = open_artifact(evil)
    with pytest.raises(ArtifactError, match="outside its collection root"):
        art.image_path(0)
    with pytest.raises(ArtifactError, match="out of range"):
        open_artifact(built).image_path(12)


def test_rowfile_roundtrip_is_a_valid_npy(tmp_path):
    f = RowFile.create(tmp_path / "x.npy", (10, 3), np.float16)
    f.write(4, np.ones((2, 3)))
    arr = np.load(tmp_path / "x.npy")
    assert arr.shape == (10, 3) and arr.dtype == np.float16 and arr[4:6].sum() == 6 and arr.sum() == 6
    np.testing.assert_array_equal(f.read(3, 7), arr[3:7])


def test_list_artifacts_reports_complete_and_unfinished(built, tmp_path):
    copy_artifact(built, tmp_path / "a" / "done")
    (tmp_path / "b" / "unfinished" / ".partial").mkdir(parents=True)
    infos = list_artifacts(tmp_path)
    assert [(i.name, i.complete) for i in infos] == [("done", True), ("unfinished", False)]
    assert infos[0].model_id == "tiny-rn/random" and infos[0].rows == 12

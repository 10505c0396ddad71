"""The shipped out-of-distribution glyphs (assets/demo_ood), their split and their build script."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from core.analyses.ood import OOD_DIR, load_ood_images, load_ood_index
from core.pipeline.demo import CATEGORIES, load_corpus_index

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

import build_ood_corpus as build  # noqa: E402

SYMBOLA = build.DEFAULT_FONT


def test_every_category_is_split_by_glyph_into_disjoint_stratified_halves():
    df = load_ood_index()
    assert df["id"].is_unique and df["codepoint"].is_unique
    assert set(df["split"]) == {"val", "test"} and set(df["label"]) == set(CATEGORIES)
    val, test = load_ood_index("val"), load_ood_index("test")
    assert not set(val["id"]) & set(test["id"]) and len(val) + len(test) == len(df)
    for cat in CATEGORIES:
        n_val, n_test = (val["label"] == cat).sum(), (test["label"] == cat).sum()
        assert n_val >= 1 and n_test >= 1 and n_test - n_val in (0, 1), cat
    assert df["label"].value_counts().max() <= build.CAP  # no category dominates


def test_glyphs_come_from_symbola_and_never_from_the_training_corpus():
    df = load_ood_index()
    assert (df["source"] == build.SOURCE).all() and (df["licence"] == build.LICENCE).all()
    assert "Fonts are free for any use" in build.LICENCE and "public domain" not in build.LICENCE
    assert not set(df["id"]) & set(load_corpus_index()["id"])
    table = {f"U+{cp:04X}": cat for cat, cps in build.TABLE.items() for cp in cps}
    assert dict(zip(df["codepoint"], df["label"])) == table  # every table entry has a glyph in the font
    spider = df[df["codepoint"] == "U+1F577"]
    assert list(spider["label"]) == ["insect"]  # as the training corpus counts spiders


def test_pictures_are_black_drawings_on_white_at_the_model_size():
    import numpy as np

    df = load_ood_index("test")
    for img in load_ood_images(df["id"][:8]):
        a = np.asarray(img)
        assert img.size == (build.IMAGE_SIZE, build.IMAGE_SIZE)
        assert (a[0] == 255).all() and (a[-1] == 255).all()  # white margin around the centred glyph
        assert (a < 128).mean() > 0.01  # some ink


@pytest.mark.skipif(not SYMBOLA.is_file(), reason="needs Debian's fonts-symbola")
def test_build_script_rebuilds_the_shipped_files_byte_for_byte(tmp_path):
    assert build.main(["--font", str(SYMBOLA), "--out", str(tmp_path)]) == 0
    for name in ("index.csv", "images.zip"):
        assert (tmp_path / name).read_bytes() == (OOD_DIR / name).read_bytes(), name

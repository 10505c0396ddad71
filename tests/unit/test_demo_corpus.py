"""The shipped demo corpus (assets/demo_corpus) and its build script."""
from __future__ import annotations

import csv
import io
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.pipeline import demo

REPO = Path(__file__).resolve().parents[2]
OPENCLIPART = Path("/usr/share/openclipart/png")


@pytest.fixture(scope="module")
def index():
    return demo.load_corpus_index()


def test_index_columns_and_ids(index):
    for col in ("id", "path", "label", "caption", "split", "source", "licence", "continent", "holiday",
                "group", "object", "evaluated"):
        assert col in index.columns
    assert index["id"].is_unique and index["path"].is_unique
    assert set(index["split"]) == {"train", "test"}
    assert (index["licence"].str.contains("public domain")).all()
    assert (index["caption"].str.startswith("a drawing of a ")).all()


def test_categories_have_train_and_test_pictures(index):
    assert len(demo.CATEGORIES) >= 16
    ev = index[index["evaluated"]]
    assert set(ev["label"]) == set(demo.CATEGORIES)
    test = ev[ev["split"] == "test"]
    for cat in demo.CATEGORIES:
        assert (test["label"] == cat).sum() >= 1, cat
        assert ((ev["split"] == "train") & (ev["label"] == cat)).sum() >= 4, cat
    assert 0.1 < len(test) / len(ev) < 0.25


def test_variant_groups_never_straddle_the_split(index):
    splits_per_group = index.groupby("group")["split"].nunique()
    assert (splits_per_group == 1).all(), list(splits_per_group[splits_per_group > 1].index)


def test_extra_label_fields(index):
    flags = index[index["label"] == "flag"]
    assert {"europe", "africa", "asia"} <= set(flags["continent"])
    assert (index.loc[index["label"] != "flag", "continent"] == "").all()
    assert {"christmas", "valentines"} <= set(index["holiday"])


def test_junk_is_filtered(index):
    for junk in ("computer/icons", "shapes/", "special/", "signs_and_symbols/led", "cardbacks"):
        assert not index["source"].str.contains(junk, regex=False).any(), junk


def test_every_image_decodes_and_transparency_becomes_white(index):
    with zipfile.ZipFile(demo.IMAGES_FILE) as zf:
        names = set(zf.namelist())
        assert names == set(index["path"])
        transparent_seen = 0
        for path in index["path"]:
            rgba = Image.open(io.BytesIO(zf.read(path)))
            assert rgba.mode == "RGBA" and rgba.size == (96, 96)
            alpha = np.asarray(rgba)[..., 3]
            if (alpha == 0).any() and transparent_seen < 200:
                transparent_seen += 1
                rgb = np.asarray(demo.composite_on_white(rgba))
                assert (rgb[alpha == 0] == 255).all(), path
    assert transparent_seen == 200


def test_load_corpus_image_rgb_on_white(index):
    row = index[index["label"] == "smiley"].iloc[0]
    img = demo.load_corpus_image(row["id"])
    assert img.mode == "RGB" and img.size == (96, 96)
    assert tuple(np.asarray(img)[0, 0]) == (255, 255, 255), "corner is transparent in clip art -> white"
    with pytest.raises(demo.UnknownImageError, match="ids look like"):
        demo.load_corpus_image("no-such-id")


def test_iter_corpus_images_filters(index):
    rows = list(demo.iter_corpus_images(split="test", evaluated_only=True))
    assert len(rows) == int(((index["split"] == "test") & index["evaluated"]).sum())
    assert all(r["label"] in demo.CATEGORIES for r, _ in rows)


def test_shipped_corpus_is_compact():
    total = sum(f.stat().st_size for f in demo.CORPUS_DIR.iterdir())
    assert total <= 25 * 2**20


def test_materialize_corpus_is_idempotent(tmp_path, monkeypatch):
    full = demo._index()
    assert demo.PLACEHOLDER_IDS <= set(full["id"])
    placeholders = full[full["id"].isin(demo.PLACEHOLDER_IDS)]
    assert not ((placeholders["split"] == "test") & (placeholders["evaluated"] == 1)).any()
    small = full[full.groupby("label").cumcount().lt(2) | full["id"].isin(demo.PLACEHOLDER_IDS)]
    small = small.reset_index(drop=True)
    monkeypatch.setattr(demo, "_index", lambda: small)
    monkeypatch.setattr(demo, "_index", lambda: small)
    out = demo.materialize_corpus(tmp_path / "demo")
    rows = list(csv.DictReader(open(out / "collection.csv")))
    assert list(rows[0]) == ["path", "label", "caption", "split"]
    assert len(rows) == len(small) - small["id"].isin(demo.PLACEHOLDER_IDS).sum()
    assert not any(Path(r["path"]).stem in demo.PLACEHOLDER_IDS for r in rows), "broken-link renderings left out"
    for r in rows:
        img = Image.open(out / r["path"])
        assert img.mode == "RGB" and r["path"].startswith(f"images/{r['label'].replace(' ', '_')}/")
    first = {p: p.stat().st_mtime_ns for p in (out / "images").rglob("*.png")}
    demo.materialize_corpus(out)
    assert {p: p.stat().st_mtime_ns for p in (out / "images").rglob("*.png")} == first


@pytest.mark.skipif(not OPENCLIPART.is_dir(), reason="needs Debian's openclipart-png")
def test_build_script_is_deterministic_and_matches_shipped(tmp_path, index):
    sys.path.insert(0, str(REPO / "scripts"))
    import build_demo_corpus as build

    ev = index[index["evaluated"]]
    subset = list(ev.groupby("label").head(1)["source"]) + list(index[~index["evaluated"]]["source"][:4])
    build.build(OPENCLIPART, tmp_path / "a", sources=subset, jobs=1)
    build.build(OPENCLIPART, tmp_path / "b", sources=subset, jobs=1)
    for name in ("images.zip", "index.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    shipped = zipfile.ZipFile(demo.IMAGES_FILE)
    rebuilt = zipfile.ZipFile(tmp_path / "a" / "images.zip")
    assert len(rebuilt.namelist()) == len(subset)
    for name in rebuilt.namelist():
        assert rebuilt.read(name) == shipped.read(name), name


def test_capabilities_note_states_figures_and_limits():
    import json

    from core.config import ASSETS_DIR
    from core.pipeline.demo import capabilities_note

    metrics = json.loads((ASSETS_DIR / "demo" / "metrics.json").read_text())
    note = capabilities_note()
    assert f"{100 * metrics['zero_shot_top1']['value']:.0f} % top-1" in note
    assert f"{100 * metrics['reading']['value']:.0f} %" in note
    assert "Cannot show" in note and "RN50x4@" in note
    shown = metrics["typographic_attack"]["value"] >= 0.3
    assert ("typographic attacks are at chance" in note) != shown
    # both wordings, from the same figures with the attack moved across the line
    for value, phrase in ((0.02, "typographic attacks are at chance (2.0 % success"),
                          (0.45, "sends 45 % of correctly classified pictures to the written class")):
        other = json.loads(json.dumps(metrics))
        other["typographic_attack"]["value"] = value
        text = capabilities_note(other)
        assert phrase in text
        if value > 0.3:  # the neutral word's flips are stated beside a working attack, as a caveat when high
            for neutral, wording in ((0.40, "a neutral word flips 40 % too"), (0.05, "a neutral word flips only 5 %")):
                other["typographic_attack"]["control_flip_rate"] = neutral
                assert wording in capabilities_note(other)
    # multimodal units are judged as the card shows them (the stricter count), the looser count stated beside
    cards, mm = metrics["multimodal_on_cards"], metrics["multimodal_units"]
    assert "as their cards show them" in note and f"{cards['value']} of 16 categories, chance {cards['chance']:g}" in note
    assert f"finds {mm['value']} of 16" in note
    can, cannot = note.split("*Cannot show*")
    assert ("multimodal units" in can) == (cards["value"] >= 16 / 3 and cards["value"] >= 2 * cards["chance"])
    assert ("multimodal units" in cannot) != ("multimodal units" in can)
    for value in (0, 8):  # the same note from figures on either side of the bar
        other = json.loads(json.dumps(metrics))
        other["multimodal_on_cards"] = cards | {"value": value}
        can2 = capabilities_note(other).split("*Cannot show*")[0]
        assert ("as their cards show them" in can2) == (value == 8), value
    without = {k: v for k, v in metrics.items() if k != "multimodal_on_cards"}  # older metrics: the loose count
    assert f"{mm['value']} of 16 categories" in capabilities_note(without)

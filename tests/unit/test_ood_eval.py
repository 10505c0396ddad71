"""``eval-demo --ood`` on the SHIPPED demo weights: held-out words, sticker geometry, figure structure."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from core import cli, config
from core.analyses import ood_eval, raster
from core.analyses.evaluate import NEUTRAL_WORDS
from core.analyses.ood import heldout_words, load_ood_images, load_ood_index
from core.pipeline.demo import CATEGORIES, load_corpus_index

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))


@pytest.fixture(scope="module")
def result():
    from core.model.loading import load_model

    torch.set_num_threads(1)
    return ood_eval.evaluate_ood(load_model("demo"), split="test")


def test_heldout_words_were_never_a_training_word():
    import train_demo_model as train

    held = set(heldout_words())
    assert len(held) >= 1000
    assert not held & set(train.neutral_vocabulary(min_len=2)) and not held & set(train.neutral_vocabulary())
    assert not held & {w for words in train.near_category_words().values() for w in words}
    df = load_corpus_index()
    objects = {o for o in df["object"] if 2 < len(o) <= 14 and " " not in o}  # the Batcher's rendered words
    assert not held & objects
    assert not held & set(CATEGORIES) and not held & set(NEUTRAL_WORDS)
    assert not any(c in w for w in held for c in CATEGORIES)  # no "education" (cat), no "signature" (sign)


def _changed(a, b) -> np.ndarray:
    return np.any(np.asarray(a) != np.asarray(b), axis=-1)


def _inside(mask: np.ndarray, box) -> bool:
    x0, y0, x1, y1 = box
    outside = mask.copy()
    outside[y0:y1 + 1, x0:x1 + 1] = False
    return not outside.any()


def test_styles_stay_under_ten_percent_cover_and_blanks_match_their_geometry():
    pics = load_ood_images(load_ood_index("test")["id"][:4])
    font = raster.HELDOUT_FONTS[0]
    for pic in pics:
        for word, neutral in (("insect", "education"), ("cat", "something")):
            for edge in ("top", "bottom"):  # band: the same band for the word, the neutral word and the blank
                box, _ = raster.band_geometry(pic.size, word, height_frac=ood_eval.BAND_HEIGHT, edge=edge)
                for text in (word, neutral, ""):
                    img, cover = ood_eval._draw("band", pic, text, word, font=font, pos=(0, 0), edge=edge)
                    assert cover <= ood_eval.MAX_COVER and _inside(_changed(pic, img), box)
            box, _ = raster.label_geometry(pic.size, word, area_frac=ood_eval.STICKER_AREA, position=(0.3, 0.6),
                                           font=font)
            attack, cover = ood_eval._draw("sticker", pic, word, word, font=font, pos=(0.3, 0.6), edge="top")
            blank, blank_cover = ood_eval._draw("sticker", pic, "", word, font=font, pos=(0.3, 0.6), edge="top")
            area = (box[2] - box[0] + 1) * (box[3] - box[1] + 1) / (pic.width * pic.height)
            assert cover <= ood_eval.MAX_COVER and blank_cover == pytest.approx(area, abs=0.01)
            assert _inside(_changed(pic, attack), box) and _inside(_changed(pic, blank), box)
            attack, cover = ood_eval._draw("pattern", pic, word, word, font=font, pos=(0, 0), edge="top")
            height = ood_eval._pattern_height(pic, word, font)
            blank, blank_cover, boxes = raster.article_pattern_blank(pic, word, font=font, fg=ood_eval.TEXT,
                                                                     outline=ood_eval.TEXT, text_height_frac=height)
            union = np.zeros((pic.height, pic.width), bool)
            for x0, y0, x1, y1 in boxes:
                union[y0:y1 + 1, x0:x1 + 1] = True
            assert len(boxes) == 8 and cover <= ood_eval.MAX_COVER and blank_cover <= ood_eval.MAX_COVER
            assert not (_changed(pic, attack) & ~union).any() and not (_changed(pic, blank) & ~union).any()
            assert blank_cover == pytest.approx(cover, rel=0.35)  # bars change about as many pixels as the words


def _check(p: dict) -> None:
    assert 0 <= p["k"] <= p["n"] and p["value"] == pytest.approx(p["k"] / p["n"], abs=1e-4)
    lo, hi = p["ci95"]
    assert 0 <= lo <= p["value"] <= hi <= 1 and hi - lo > 0


def test_ood_figures_on_the_shipped_weights_have_consistent_counts(result):
    test = load_ood_index("test")
    assert result["split"] == "test" and result["pictures"] == len(test)
    assert sum(v["n"] for v in result["per_category"].values()) == len(test)
    assert all(0 <= v["k"] <= v["n"] for v in result["per_category"].values())
    zs = result["zero_shot_top1"]
    _check(zs), _check(result["zero_shot_top5"])
    assert zs["k"] == sum(v["k"] for v in result["per_category"].values())
    assert result["zero_shot_top5"]["k"] >= zs["k"]
    att = result["typographic_attack"]
    assert att["pictures"] == zs["k"] and att["n"] == att["pictures"] * ood_eval.ATTACKS_PER_PICTURE
    assert set(att["styles"]) == set(ood_eval.STYLES)
    for style, s in att["styles"].items():
        for key in ("attack_success", "attack_flips", "neutral_flips", "blank_flips"):
            _check(s[key])
            assert s[key]["n"] == att["n"], (style, key)
        assert s["attack_success"]["k"] <= s["attack_flips"]["k"]  # a success is a flip
        for cond in ("attack", "neutral", "blank"):
            assert s["cover"][cond]["max"] <= ood_eval.MAX_COVER, (style, cond)
    for t in result["targets"]:
        assert isinstance(t["met"], bool)
    assert result["targets"][0]["met"] == (zs["value"] >= 0.5)


def test_shipped_metrics_hold_the_ood_test_figures(result):
    shipped = json.loads((config.DEMO_MODEL_DIR / "metrics.json").read_text())["ood"]
    assert shipped["split"] == "test" and shipped["pictures"] == result["pictures"]
    assert shipped["zero_shot_top1"]["value"] == pytest.approx(result["zero_shot_top1"]["value"], abs=0.02)
    for style, s in result["typographic_attack"]["styles"].items():
        for key in ("attack_success", "neutral_flips", "blank_flips"):
            assert shipped["typographic_attack"]["styles"][style][key]["value"] == pytest.approx(
                s[key]["value"], abs=0.05), (style, key)


def test_missing_ood_files_are_a_one_line_error(tmp_path, capsys):
    assert cli.main(["eval-demo", "--ood", "--ood-dir", str(tmp_path), "--json"]) == 2
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1 and "index.csv" in json.loads(out)["error"]
    assert cli.main(["eval-demo", "--ood", "--ood-dir", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1 and "fonts-symbola" in err

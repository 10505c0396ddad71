"""Typographic attacks (core.analyses.attacks): pure pieces plus single-image and dataset runs on a tiny model."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from core.analyses import attack_lab, attacks, raster
from core.analyses.zeroshot import build_classifier
from core.errors import BadInputError
from core.model.hooks import article_layer, capture


@pytest.fixture
def picture():
    arr = np.full((96, 96, 3), 200, np.uint8)
    arr[20:70, 30:80] = (30, 120, 40)
    return Image.fromarray(arr)


def test_spec_validation():
    assert attacks.AttackSpec("  iPod  ").validated().text == "iPod"
    with pytest.raises(BadInputError, match="empty"):
        attacks.AttackSpec("  ").validated()
    with pytest.raises(BadInputError, match="style"):
        attacks.AttackSpec("x", style="graffiti").validated()
    with pytest.raises(BadInputError, match="position"):
        attacks.AttackSpec("x", position="left").validated()
    with pytest.raises(BadInputError, match="Sticker size"):
        attacks.AttackSpec("x", area=0.9).validated()
    assert attacks.parse_color("#FF0080") == (255, 0, 128)
    with pytest.raises(BadInputError, match="rrggbb"):
        attacks.parse_color("red")


def test_apply_attack_styles_and_cover(picture):
    small, c_small = attacks.apply_attack(picture, attacks.AttackSpec("pizza", area=0.05))
    big, c_big = attacks.apply_attack(picture, attacks.AttackSpec("pizza", area=0.3))
    assert small.size == picture.size and 0 < c_small < c_big <= 0.35
    art, c_art = attacks.apply_attack(picture, attacks.AttackSpec("pizza", style="article"))
    assert 0.01 < c_art < 0.5
    ref, ref_cover = raster.overlay_article_pattern(picture, "pizza")  # eval-demo's drawing: the same pixels
    assert np.array_equal(np.asarray(art), np.asarray(ref)) and c_art == ref_cover
    red, _ = attacks.apply_attack(picture, attacks.AttackSpec("pizza", area=0.3, fg=(255, 0, 0)))
    assert np.all(np.asarray(red) == (255, 0, 0), axis=-1).any()
    assert np.asarray(picture).mean() == pytest.approx(np.asarray(picture.copy()).mean())  # input untouched


def test_flip_rates():
    r = attacks.flip_rates(np.array([0, 0, 1, 1]), np.array([2, 0, 2, 0]), np.array([2, 2, 2, -1]))
    assert r["n"] == 4 and r["any_flip"] == 0.75
    assert r["success"] == pytest.approx(2 / 3)  # trials with a target only
    assert attacks.flip_rates(np.array([0]), np.array([1]))["success"] is None


def test_neuron_deltas_and_risers():
    d = attacks.neuron_deltas(np.array([1.0, 2.0, 3.0]), np.array([2.0, 0.0, 3.5]), unit_std=np.array([1.0, 2.0, 0.5]))
    assert list(d["unit"]) == [0, 2, 1]
    assert d.set_index("unit").loc[1, "delta_std"] == pytest.approx(-1.0)
    rise, fall = attacks.risers_fallers(d, top=5)
    assert list(rise["unit"]) == [0, 2] and list(fall["unit"]) == [1]


def test_forward_units_match_capture(tiny_rn, picture):
    emb, units = attacks.forward_units(tiny_rn, [picture], stat="max")
    layer = article_layer(tiny_rn)
    x = tiny_rn.preprocess(picture)[None]
    with capture(tiny_rn, [layer]) as acts:
        tiny_rn.model.encode_image(x)
    assert np.allclose(units[0], acts[layer].amax(dim=(2, 3))[0].numpy(), atol=1e-5)
    assert emb.shape[0] == 1 and np.linalg.norm(emb[0]) == pytest.approx(1.0, abs=1e-5)


def test_attack_image(tiny_rn, picture):
    clf = build_classifier(tiny_rn, ["pizza", "tree", "boat"])
    res = attacks.attack_image(tiny_rn, picture, attacks.AttackSpec("pizza", area=0.2), clf)
    assert res.target == "pizza" and res.success == (res.pred_after == "pizza")
    assert res.flipped == (res.pred_before != res.pred_after)
    assert np.allclose(res.probs[["before", "after"]].sum(), 1.0)
    assert res.probs["after"].is_monotonic_decreasing
    assert len(res.deltas) == 8 * 32 and res.layer == article_layer(tiny_rn)  # tiny-rn: width 8 -> 256 units
    assert res.deltas["delta"].abs().max() > 0  # writing on the picture changed some neuron
    none = attacks.attack_image(tiny_rn, picture, attacks.AttackSpec("hello"), clf)
    assert none.target is None and none.success is None


def test_parse_attack_words():
    words = attack_lab.parse_attack_words(["cat", "meow=cat", "Boat"], ["cat", "boat"], controls=["hello"])
    assert [(w.word, w.target) for w in words] == [("cat", "cat"), ("meow", "cat"), ("Boat", "boat"), ("hello", None)]
    with pytest.raises(BadInputError, match="Did you mean"):
        attack_lab.parse_attack_words(["bot"], ["cat", "boat"])


def test_attack_eval_on_tiny_model(tiny_rn, image_folder):
    classes = ["cat", "dog", "boat"]
    paths = sorted(image_folder.glob("*/*.png"))
    images = [Image.open(p).convert("RGB") for p in paths]
    labels = [p.parent.name for p in paths]
    clf = build_classifier(tiny_rn, classes)
    seen = []
    res = attack_lab.attack_eval(tiny_rn, images, labels, clf, attack_lab.parse_attack_words(classes, classes,
                              controls=["hello"]), progress=lambda d, t: seen.append((d, t)))
    t = res.table
    assert len(t) == 4 * 2  # 4 words x 2 styles
    assert res.meta["clean_accuracy"] == pytest.approx(res.meta["correct"] / len(images))
    pred = clf.probs(attacks.forward_units(tiny_rn, images)[0]).argmax(1)
    truth = np.array([classes.index(lab) for lab in labels])
    correct = pred == truth
    assert res.meta["correct"] == int(correct.sum())
    for _, row in t.iterrows():
        # pictures already of the target class are excluded, as in the article
        target = classes.index(row["target"]) if isinstance(row["target"], str) else -1
        assert row["n"] == int((correct & (truth != target)).sum())
        if row["n"]:
            assert 0 <= row["any_flip"] <= 1 and 0 < row["cover"] < 0.5
            assert pd.isna(row["success"]) == (target < 0)
            if target >= 0:
                assert row["success"] <= row["any_flip"]
    correct = int(correct.sum())
    if correct:
        assert seen and seen[-1][0] == seen[-1][1]
        rise, fall = res.top_units(top=3)
        assert len(rise) + len(fall) > 0
    d = res.to_dict()
    assert d["article"]["table"][0]["word"] == "trash" and len(d["table"]) == 8


def test_cli_attack_eval_json_over_an_index(tiny_rn, image_folder, tmp_path, capsys):
    import json

    from core.cli import main
    from core.pipeline.extract import run_extraction

    run_extraction(tiny_rn, image_folder, tmp_path / "idx", workers=0, topk=4)
    rc = main(["attack-eval", "--model", "tiny-rn/random", "--index", str(tmp_path / "idx"), "--words", "dog",
               "meow=cat", "--controls", "hello", "--styles", "article", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert out["images"] == 12 and out["classes"] == ["boat", "cat", "dog"]
    assert [(r["word"], r["target"], r["style"]) for r in out["table"]] == [
        ("dog", "dog", "article"), ("meow", "cat", "article"), ("hello", None, "article")]
    assert out["article"]["table"][0]["success"] == 0.954 and out["source"].startswith("collection")
    assert out["template"] == ["a photo of a {}"]


def test_cli_attack_eval_on_the_demo_heldout_set_and_bad_words(tiny_rn, capsys):
    import json

    from core.cli import main

    rc = main(["attack-eval", "--model", "tiny-rn/random", "--limit", "6", "--words", "cat", "--styles",
               "sticker", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["images"] == 6 and out["source"] == "demo corpus, held-out test split"
    assert main(["attack-eval", "--model", "tiny-rn/random", "--limit", "6", "--words", "kat"]) == 2
    err = capsys.readouterr().err
    assert "Did you mean" in err and "cat" in err


def test_cli_attack_eval_text_output(tiny_rn, capsys):
    from core.cli import main

    assert main(["attack-eval", "--model", "tiny-rn/random", "--limit", "4", "--words", "fish", "--styles",
                 "article"]) == 0
    out = capsys.readouterr().out
    assert "fish" in out and "trash" in out and "success" in out


def test_attack_eval_summary_pools_words_by_pictures():
    table = pd.DataFrame([
        {"word": "a", "target": "a", "style": "article", "n": 10, "success": 0.5, "any_flip": 0.6, "chance": 0.3,
         "cover": 0.1},
        {"word": "b", "target": "b", "style": "article", "n": 30, "success": 0.1, "any_flip": 0.2, "chance": 0.1,
         "cover": 0.05},
        {"word": "hi", "target": None, "style": "article", "n": 40, "success": None, "any_flip": 0.9, "chance": 0.45,
         "cover": 0.2},
        {"word": "a", "target": "a", "style": "sticker", "n": 0, "success": None, "any_flip": None, "chance": None,
         "cover": None},
    ])
    res = attack_lab.AttackEval(table, pd.DataFrame({"word": ["a"], "style": ["article"], "unit": [0], "delta": [1.0]}),
                             {"model": "m"})
    s = res.summary()
    assert list(s) == ["article"]  # controls and empty rows are not pooled
    assert s["article"]["n"] == 40 and s["article"]["success"] == pytest.approx((5 + 3) / 40)
    assert s["article"]["cover"] == pytest.approx((1 + 1.5) / 40)
    assert res.to_dict()["summary"] == s

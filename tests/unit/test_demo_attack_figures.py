"""Typographic-attack and Stroop figures of the embedded demo model, checked against eval-demo's.

``attack-eval`` and ``eval-demo`` share the pictures (the demo corpus's held-out split), the zero-shot
classifier ("a drawing of a {}"), the article's 8-spot drawing (``core.analyses.raster``) and the rate
definitions (``core.analyses.attacks.flip_rates``); they differ only in which attack words each picture gets
(every listed word vs three random ones) and the font (one held-out font vs a random held-out one).
So the clean figures must match exactly and the attack rates within sampling error. The Stroop
figure is one implementation (``core.analyses.stroop.stroop_figure``) behind both commands: exact match.
The checks hold whatever the figures are (the first demo was at chance, the shipped one falls for stickers).
"""
from __future__ import annotations

import json
import math

import pytest

from core import cli
from core.analyses.raster import HELDOUT_FONTS
from core.pipeline.demo import CATEGORIES

WORDS = list(CATEGORIES[:6])


def _run(tmp_path_factory, name: str, argv: list[str]) -> dict:
    out = tmp_path_factory.mktemp(name) / "out.json"
    assert cli.main(argv + ["--out", str(out)]) == 0
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def eval_demo(tmp_path_factory) -> dict:
    return _run(tmp_path_factory, "eval", ["eval-demo"])


@pytest.fixture(scope="module")
def attack(tmp_path_factory) -> dict:
    return _run(tmp_path_factory, "attack", ["attack-eval", "--styles", "article", "--font", HELDOUT_FONTS[0],
                                             "--words", *WORDS])


@pytest.fixture(scope="module")
def stroop(tmp_path_factory) -> dict:
    return _run(tmp_path_factory, "stroop", ["stroop"])


def _within_sampling_error(p1: float, n1: int, p2: float, n2: int) -> bool:
    """|p1 - p2| within 3 standard errors of a difference of two proportions (plus one point of slack)."""
    p = (p1 * n1 + p2 * n2) / (n1 + n2)
    se = math.sqrt(max(p * (1 - p), 1e-4) * (1 / n1 + 1 / n2))
    return abs(p1 - p2) <= 3 * se + 0.01


def test_attack_eval_attacks_the_pictures_eval_demo_attacks(attack, eval_demo):
    assert attack["model"] == eval_demo["model"] == "demo"
    assert attack["template"] == ["a drawing of a {}"]
    assert attack["images"] == eval_demo["heldout_pictures"]
    assert attack["clean_accuracy"] == pytest.approx(eval_demo["zero_shot_top1"]["value"], abs=1e-4)
    assert attack["correct"] == eval_demo["typographic_attack"]["pictures"]  # the same correctly classified set


def test_attack_success_and_flips_agree_with_eval_demo(attack, eval_demo):
    mine = attack["summary"]["article"]
    theirs = eval_demo["typographic_attack"]["article_pattern"]
    n_theirs = eval_demo["typographic_attack"]["n"]
    assert mine["n"] >= n_theirs > 0
    assert _within_sampling_error(mine["success"], mine["n"], theirs["value"], n_theirs), (mine, theirs)
    assert _within_sampling_error(mine["any_flip"], mine["n"], theirs["flip_rate"], n_theirs), (mine, theirs)
    # reported beside the article's figures (RN50x4: 36-95 % success at 6-10 % pixel cover)
    article = {r["word"]: r for r in attack["article"]["table"]}
    assert article["trash"]["success"] == 0.954 and article["iPod"]["success"] == 0.947


def test_stroop_word_win_rate_is_eval_demos(stroop, eval_demo):
    theirs = eval_demo["stroop"]
    for key in ("incongruent", "word_wins", "ink_wins", "other_wins", "control_ink_wins", "congruent_correct"):
        assert stroop[key] == theirs[key], key
    assert stroop["word_win_rate"] == theirs["value"] and stroop["incongruent"] == 56
    assert stroop["article"]["word_wins"] == 49 and stroop["article"]["incongruent"] == 49

"""The Stroop experiment (core.analyses.stroop): pure scoring plus a run on a tiny real model."""
from __future__ import annotations

import numpy as np
import pytest

from core.analyses import stroop
from core.analyses.zeroshot import build_classifier
from core.errors import BadInputError


def test_trials_cover_every_pair_plus_controls():
    t = stroop.stroop_trials(["red", "green", "blue"])
    assert (t["kind"] == "incongruent").sum() == 6
    assert (t["kind"] == "congruent").sum() == 3
    assert (t["kind"] == "control").sum() == 3
    assert set(t[t["kind"] == "control"]["word"]) == {stroop.CONTROL_WORD}
    with pytest.raises(BadInputError, match="Unknown colour"):
        stroop.stroop_trials(["red", "mauve"])
    with pytest.raises(BadInputError, match="at least two"):
        stroop.stroop_trials(["red"])


def test_scoring_word_vs_ink():
    classes = ["red", "green"]
    trials = stroop.stroop_trials(classes)  # rr, rg, gr, gg, ctl-r, ctl-g
    # a model that always reads the word (controls: reads the ink)
    probs = np.array([[.9, .1], [.8, .2], [.3, .7], [.1, .9], [.6, .4], [.2, .8]])
    scored = stroop.score_trials(trials, probs, classes)
    s = stroop.summarize(scored)
    assert s["incongruent"] == 2 and s["word_wins"] == 2 and s["ink_wins"] == 0
    assert s["congruent_correct"] == 2 and s["control_ink_wins"] == 2
    assert s["word_win_rate"] == 1.0 and s["article"]["word_wins"] == 49
    # the opposite model: reads the ink
    ink_model = np.array([[.9, .1], [.1, .9], [.9, .1], [.1, .9], [.9, .1], [.1, .9]])
    s2 = stroop.summarize(stroop.score_trials(trials, ink_model, classes))
    assert s2["ink_wins"] == 2 and s2["word_wins"] == 0


def test_stroop_image_uses_the_ink():
    img = np.asarray(stroop.stroop_image("green", "red", size=64))
    ink = np.all(img == stroop.COLORS["red"], axis=-1).sum()
    assert ink > 20  # the word is drawn in red ink
    with pytest.raises(BadInputError, match="Unknown ink"):
        stroop.stroop_image("red", "teal")


def test_run_stroop_on_tiny_model(tiny_rn):
    clf = build_classifier(tiny_rn, ["red", "green", "blue"], stroop.STROOP_TEMPLATE)
    scored, summary = stroop.run_stroop(tiny_rn, clf)
    assert len(scored) == 12
    assert summary["word_wins"] + summary["ink_wins"] + summary["other_wins"] == summary["incongruent"] == 6
    assert summary["size"] == 64 and summary["template"] == [stroop.STROOP_TEMPLATE]
    assert scored["p_ink"].between(0, 1).all()


def test_cli_stroop_json(tiny_rn, capsys):
    import json

    from core.cli import main

    assert main(["stroop", "--model", "tiny-rn/random", "--colors", "red", "green", "blue", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["incongruent"] == 6 and len(out["trials"]) == 12
    assert out["word_wins"] == sum(t["winner"] == "word" for t in out["trials"] if t["kind"] == "incongruent")
    assert out["article"] == {**stroop.ARTICLE}
    assert main(["stroop", "--model", "tiny-rn/random", "--colors", "red", "teal"]) == 2
    assert "Unknown colour" in capsys.readouterr().err

"""Paper reproduction check: the data file, the pass/fail table, chance rates, the model guard, self-consistency."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.analyses.paper import (
    chance_pass_rate,
    check_paper,
    check_table,
    is_article_model,
    load_paper_units,
    require_article_model,
    self_check,
    self_consistency,
    summarize,
    vocabulary,
)
from core.errors import BadInputError, WeightsUnavailableError


def test_paper_units_file_matches_the_methods_digest():
    paper = load_paper_units()
    t = paper.table
    assert len(t) == 161 and t["unit"].is_unique and t["unit"].between(0, 2559).all()
    assert paper.layer == "visual.layer4.5.act3@in" and paper.arch == "RN50x4" and paper.units_in_layer == 2560
    row = t.set_index("unit").loc[550]
    assert row["label"] == "Spiderman" and row["top_words"] == ["spider", "tickets", "slideshow"]
    assert t.set_index("unit").loc[89, "label"] == "Donald Trump"
    assert len(paper.pairs) == 26 and (289, "cat") in paper.pairs
    for unit, word in paper.pairs:  # every §12 pair is one of the unit's listed top words
        assert word in t.set_index("unit").loc[unit, "top_words"]
    quick, full = vocabulary(paper, quick=True), vocabulary(paper)
    for vocab in (quick, full):
        assert {"spider", "ghana", "ipod"} <= set(vocab) and len(vocab) == len(set(vocab))
    assert 400 < len(quick) < 2000 and len(full) >= 12_000


def _acts():
    """5 words x 4 units: unit 0 <- 'cat', unit 1 <- 'dog', unit 2 <- 'boat', unit 3 flat."""
    words = ["cat", "dog", "boat", "tree", "sun"]
    acts = np.array([[9, 0, 1, 2], [1, 8, 0, 2], [0, 2, 7, 2], [3, 3, 3, 2], [2, 1, 1, 2.5]], float)
    return acts, words


def test_check_table_ranks_words_per_unit_and_units_per_word():
    acts, words = _acts()
    expected = pd.DataFrame({"unit": [0, 1, 2], "label": ["c", "d", "b"],
                             "top_words": [["kitten", "cat"], ["boat"], ["nothere"]]})
    t = check_table(acts, words, expected, k=1)
    assert list(t["passed"]) == [True, False, False]
    assert t.loc[0, "best_word"] == "cat" and t.loc[0, "best_rank"] == 1 and t.loc[0, "unit_rank"] == 1
    assert t.loc[0, "found"].split(", ")[0] == "cat"
    assert t.loc[1, "best_rank"] == 3  # 'boat' is unit 1's third word
    assert pd.isna(t.loc[2, "best_rank"]) and pd.isna(t.loc[2, "best_word"])
    assert check_table(acts, words, expected, k=3)["passed"].tolist() == [True, True, False]
    with pytest.raises(BadInputError, match="out of range"):
        check_table(acts, words, pd.DataFrame({"unit": [9], "label": ["x"], "top_words": [["cat"]]}))
    with pytest.raises(BadInputError, match="activation rows"):
        check_table(acts, words[:2], expected)


def test_chance_rate_and_summary():
    assert chance_pass_rate(10, 1, 1) == pytest.approx(0.1)
    assert chance_pass_rate(100, 3, 10) == pytest.approx(1 - (90 * 89 * 88) / (100 * 99 * 98))
    acts, words = _acts()
    t = check_table(acts, words, pd.DataFrame({"unit": [0, 1], "label": ["c", "d"], "top_words": [["cat"], ["sun"]]}),
                    k=1)
    s = summarize(t, len(words), 1)
    assert s == {"passed": 1, "total": 2, "rate": 0.5, "chance": 0.2, "k": 1, "vocabulary": 5}


def test_self_consistency_passes_true_pairs_and_fails_a_shuffle():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    acts = rng.normal(size=(30, 64))
    true, fake = self_consistency(acts, words, words[:12])
    assert len(true) >= 2 and true["passed"].all()
    assert not fake["passed"].any() and set(fake["unit"]) == set(true["unit"])
    with pytest.raises(BadInputError, match="at least two"):
        self_consistency(acts, words, ["nope"])


def test_non_article_models_are_refused_with_where_to_put_weights(tiny_rn):
    assert not is_article_model(tiny_rn)
    with pytest.raises(WeightsUnavailableError, match="--checkpoint FILE --arch RN50x4"):
        require_article_model(tiny_rn)
    with pytest.raises(WeightsUnavailableError):
        check_paper(tiny_rn)


def test_check_paper_runs_the_table_on_an_rn50x4_shaped_model(tiny_rn, monkeypatch):
    """The article path end to end with an injected word-activation function (no real weights here)."""
    import dataclasses

    from core.model.loading import ModelSpec

    fake = dataclasses.replace(tiny_rn, spec=ModelSpec("file", "RN50x4", path=None))
    assert is_article_model(fake)
    paper = load_paper_units()

    def word_acts(_loaded, words, layer, _progress):
        assert layer == paper.layer
        acts = np.zeros((len(words), 2560))
        acts[words.index("spider"), 550] = 5.0  # unit 550 reads "spider": passes
        return acts

    res = check_paper(fake, units=[550, 713], word_acts=word_acts, k=10)
    t = res.table.set_index("unit")
    assert bool(t.loc[550, "passed"]) and t.loc[550, "best_word"] == "spider" and t.loc[550, "unit_rank"] == 1
    assert res.summary["total"] == 2 and res.mode == "article" and res.to_dict()["summary"]["passed"] >= 1
    with pytest.raises(BadInputError, match="not cited"):
        check_paper(fake, units=[1], word_acts=word_acts)


def test_self_check_on_a_real_tiny_model(tiny_rn, tmp_path, monkeypatch):
    """Real rastering (core.analyses.words) and hooked forwards: true pairs pass, the shuffled pairs fail."""
    monkeypatch.setenv("CLIP_EXPLORER_ARTIFACTS", str(tmp_path))
    words = ["cat", "dog", "boat", "tree", "house", "clock", "fish", "bird"]
    true, fake = self_check(tiny_rn, candidates=words)
    assert true.summary["passed"] == true.summary["total"] >= 2
    assert fake.summary["passed"] == 0 and fake.summary["total"] == true.summary["total"]
    assert true.layer == "visual.layer4.0.act3@in" and true.mode == "self-consistency"


def test_cli_check_paper_without_weights_exits_2_naming_the_checkpoint_option(capsys):
    from core.cli import main

    assert main(["check-paper", "--checkpoint", "/nonexistent/RN50x4.pt", "--arch", "RN50x4"]) == 2
    err = capsys.readouterr().err
    assert "needs the article's RN50x4 weights" in err and "--checkpoint" in err and "--arch RN50x4" in err
    assert "Traceback" not in err
    assert main(["check-paper", "--json"]) == 2  # default RN50x4/openai: not cached offline
    assert "RN50x4" in json.loads(capsys.readouterr().out)["error"]  # --json: the error is JSON on stdout


def test_cli_check_paper_refuses_other_and_random_models(tiny_rn, capsys):
    from core.cli import main

    assert main(["check-paper", "--model", "tiny-rn/random"]) == 2
    assert "not an RN50x4" in capsys.readouterr().err


def test_cli_self_consistency_json(tiny_rn, tmp_path, monkeypatch, capsys):
    import json

    from core.cli import main

    monkeypatch.setenv("CLIP_EXPLORER_ARTIFACTS", str(tmp_path))
    assert main(["check-paper", "--self-consistency", "--model", "tiny-rn/random", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["true"]["summary"]["rate"] == 1.0 and out["shuffled"]["summary"]["passed"] == 0
    assert {"unit", "passed", "best_rank", "unit_rank", "found"} <= set(out["true"]["units"][0])


@pytest.mark.slow
def test_data_file_layer_exists_in_open_clip_rn50x4():
    """The data file's layer id names open_clip's RN50x4 pre-ReLU sum with 2560 units (random init, ~25 s)."""
    from core.model.hooks import article_layer, resolve_layer
    from core.model.loading import load_model

    loaded = load_model("RN50x4/random")
    paper = load_paper_units()
    assert article_layer(loaded) == paper.layer and resolve_layer(loaded, paper.layer).units == paper.units_in_layer
    assert is_article_model(loaded) and loaded.image_size == 288
    with pytest.raises(WeightsUnavailableError, match="random weights"):
        require_article_model(loaded)


def test_cli_check_paper_with_a_bad_file_says_what_is_wrong_with_it(tmp_path, capsys):
    """A checkpoint that is there but broken is not reported as missing weights."""
    from core.cli import main

    bad = tmp_path / "RN50x4.pt"
    bad.write_bytes(b"not a checkpoint at all")
    assert main(["check-paper", "--checkpoint", str(bad), "--arch", "RN50x4"]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "needs the article's RN50x4 weights" not in err

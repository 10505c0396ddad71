"""Multimodal and region units judged as the card shows them (``core.analyses.card_phenomena``), on a real tiny
model, a real indexed collection and real rastered words, checked against a brute-force reading of the same data;
and the shipped demo figures that the README and the sidebar note quote."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core import config
from core.analyses import card_phenomena as cp
from tests.conftest import make_image_folder

WORDS = ("cat", "dog", "boat", "flag", "tree", "house", "red", "blue", "water", "music", "apple", "train")


@pytest.fixture(scope="module")
def collection(tiny_rn, tmp_path_factory):
    from core.pipeline.extract import run_extraction

    root = tmp_path_factory.mktemp("cards")
    folder = make_image_folder(root / "images", n_per_class=8, classes=("cat", "dog", "flag"), size=64)
    return run_extraction(tiny_rn, folder, root / "art", workers=0, topk=16)


@pytest.fixture(scope="module")
def table(tiny_rn, collection):
    from core.analyses.words import word_activations

    return word_activations(tiny_rn, collection.layer, words=WORDS)


def _brute(art, table, category, examples, min_examples, words):
    """The criterion read off the card's data one unit at a time: top examples by sorting the unit's column, the
    word's rank by sorting the unit's word activations."""
    labels = np.asarray(art.labels)
    hits = []
    for u in range(art.units):
        col = np.asarray(art.unit_column(u), np.float64)
        top = np.lexsort((np.arange(art.rows), -col))[:examples]
        word_order = list(np.argsort(-table.acts[:, u], kind="stable"))
        rank = 1 + word_order.index(table.words.index(category))
        if (labels[top] == category).sum() >= min_examples and rank <= words:
            hits.append(u)
    return hits


@pytest.mark.parametrize("examples,min_examples,words", [(12, 6, 5), (8, 5, 3), (4, 2, 12)])
def test_multimodal_on_cards_is_the_criterion_read_off_each_card(collection, table, examples, min_examples, words):
    res = cp.multimodal_on_cards(collection, collection.labels, table, ["cat", "dog", "flag"], examples=examples,
                                 min_examples=min_examples, words=words)
    assert res["of"] == 3 and 0 <= res["chance"] <= 3
    for row in res["categories"]:
        hits = _brute(collection, table, row["category"], examples, min_examples, words)
        assert row["multimodal"] == bool(hits), row
        if hits:
            assert row["unit"] in hits and row["word_rank"] <= words
    assert res["value"] == sum(row["multimodal"] for row in res["categories"])
    # with every word in every unit's top list (words = vocabulary), only the picture test decides
    res_all = cp.multimodal_on_cards(collection, collection.labels, table, ["cat", "dog", "flag"],
                                     examples=examples, min_examples=min_examples, words=len(WORDS))
    for row in res_all["categories"]:
        assert row["multimodal"] == (row["units_passing_pictures"] > 0)
    assert res_all["chance"] == pytest.approx(sum(r["units_passing_pictures"] > 0 for r in res_all["categories"]))


def test_a_category_word_missing_from_the_vocabulary_never_counts(collection, table):
    res = cp.multimodal_on_cards(collection, collection.labels, table, ["zebra"], examples=4, min_examples=1)
    assert res["value"] == 0 and res["categories"][0]["in_vocabulary"] is False


def test_continent_units_best_share_against_brute_force_and_a_planted_unit(collection):
    labels = ["flag"] * collection.rows
    rng = np.random.default_rng(0)
    continents = list(rng.choice(["africa", "europe", "asia"], collection.rows))
    res = cp.continent_units(collection, labels, continents, k=6, shuffles=5)
    assert res["of"] == 3 and res["flags"] == collection.rows
    for row in res["continents"]:
        shares = []
        for u in range(collection.units):
            col = np.asarray(collection.unit_column(u), np.float32)
            top = np.argsort(-col, kind="stable")[:6]
            shares.append(np.mean([continents[i] == row["continent"] for i in top]))
        assert row["share"] == pytest.approx(max(shares), abs=1e-3)
        assert row["chance"] == pytest.approx(np.mean([c == row["continent"] for c in continents]), abs=1e-3)
    # plant: "oceania" is exactly unit 0's top 6 flags; its best share is then 1.0, far above chance and shuffles
    col = np.asarray(collection.unit_column(0), np.float32)
    planted = list(continents)
    for i in np.argsort(-col, kind="stable")[:6]:
        planted[i] = "oceania"
    row = {r["continent"]: r for r in cp.continent_units(collection, labels, planted, k=6, shuffles=5)["continents"]}
    assert row["oceania"]["share"] == 1.0 and row["oceania"]["ratio"] >= 2
    assert row["oceania"]["shuffled_best_share"] < 1.0


def test_too_few_flags_is_said_not_guessed(collection):
    res = cp.continent_units(collection, ["cat"] * collection.rows, ["europe"] * collection.rows)
    assert res["value"] is None and "flags" in res["note"]


def test_shipped_demo_card_figures_are_reported_beside_the_loose_count():
    metrics = json.loads((config.DEMO_MODEL_DIR / "metrics.json").read_text())
    cards, loose, regions = metrics["multimodal_on_cards"], metrics["multimodal_units"], metrics["continent_units"]
    assert cards["of"] == loose["of"] == 16 and cards["images"] == 2579
    assert "top 12 dataset examples" in cards["method"] and "12,000-word vocabulary" in cards["method"]
    assert len(cards["categories"]) == 16 and cards["value"] == sum(c["multimodal"] for c in cards["categories"])
    assert {r["continent"] for r in regions["continents"]} <= set(cp.CONTINENTS)
    assert regions["value"] == sum(r["share"] >= 2 * r["chance"] for r in regions["continents"])


def test_eval_demo_cards_reports_both_figures(collection, monkeypatch, capsys):
    """``eval-demo --cards --index DIR`` end to end (a small vocabulary: ``CLIP_EXPLORER_VOCAB_SIZE``)."""
    from core import cli

    monkeypatch.setenv("CLIP_EXPLORER_VOCAB_SIZE", "300")
    args = ["eval-demo", "--model", "tiny-rn/random", "--cards", "--index", str(collection.path)]
    assert cli.main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    cards = out["multimodal_on_cards"]
    assert cards["of"] == 16 and "300-word vocabulary" in cards["method"] and cards["images"] == collection.rows
    assert out["continent_units"]["value"] is None  # this collection's pictures are not the corpus's flags
    assert "multimodal_units" in out and "zero_shot_top1" in out  # the held-out figures are still there
    assert cli.main(args) == 0
    assert "multimodal_on_cards" in capsys.readouterr().out


def test_readme_quotes_the_shipped_figures():
    """The README's demo table says what ``assets/demo/metrics.json`` says (the stricter unit count first)."""
    metrics = json.loads((config.DEMO_MODEL_DIR / "metrics.json").read_text())
    readme = (config.REPO_ROOT / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| multimodal units as the card shows them"))
    cards, loose = metrics["multimodal_on_cards"], metrics["multimodal_units"]
    assert f"**{cards['value']} of 16**" in row and f"| {cards['chance']:g} |" in row
    assert f"{loose['value']} of 16, chance {loose['chance']:g}" in row
    top1, top5 = metrics["zero_shot_top1"]["value"], metrics["zero_shot_top5"]["value"]
    assert f"**{100 * top1:.1f} % / {100 * top5:.1f} %**" in readme
    regions = metrics["continent_units"]
    assert f"{regions['value']} of {regions['of']} continents" in readme

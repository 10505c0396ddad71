"""Phenomena judged the way a visitor sees them on the neuron card, over an indexed collection.

``multimodal_on_cards``: a unit counts as multimodal for a category only if at least ``min_examples`` of its card's
top ``examples`` dataset examples (``Artifact.top_rows``, what the card shows) are that category AND the category's
word is among its top ``words`` rastered words over the shipped vocabulary (``core.analyses.words``, what the card's
word table shows). Its chance level is the count expected if word ranks were unrelated to the pictures: for each
category, ``1 - (1 - words / V) ** m`` with ``m`` the units passing the picture test and ``V`` the vocabulary size.

``continent_units``: region units in miniature. For each continent of the collection's flags, the unit whose top
``k`` flag pictures hold the largest share of that continent, beside the continent's share of all flags (the issue's
chance) and the best share that units reach when the continents are shuffled among the flags (``shuffles`` times;
the selection of the best of many units inflates the raw share, and this is its honest baseline).

Nothing here imports torch or streamlit; the inputs are an artifact, its labels and a word-activation table.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from core.analyses.words import WordActivations
    from core.pipeline.store import Artifact

EXAMPLES = 12  # the card's top dataset examples
MIN_EXAMPLES = 6
TOP_WORDS = 5
CONTINENTS = ("africa", "america", "asia", "europe", "oceania")  # the corpus's flag folders that are continents


def top_example_matrix(art: Artifact, k: int = EXAMPLES) -> np.ndarray:
    """(units, k) rows of every unit's top ``k`` examples, as the card shows them."""
    return np.stack([art.top_rows(u, k) for u in range(art.units)])


def word_ranks(table: WordActivations, word: str) -> np.ndarray | None:
    """(units,) 1-based rank of ``word`` in every unit's rastered-word list (None: not in the vocabulary)."""
    try:
        i = table.words.index(word)
    except ValueError:
        return None
    return 1 + (table.acts > table.acts[i][None, :]).sum(axis=0)


def multimodal_on_cards(art: Artifact, labels: Sequence[str], table: WordActivations, categories: Sequence[str], *,
                        examples: int = EXAMPLES, min_examples: int = MIN_EXAMPLES, words: int = TOP_WORDS,
                        top: np.ndarray | None = None) -> dict:
    """Categories with a unit that is multimodal on its card (see the module doc), with per-category detail."""
    labels = np.asarray([str(x) for x in labels])
    top = top_example_matrix(art, examples) if top is None else top
    vocab = len(table.words)
    hits, expected, detail = 0, 0.0, []
    for cat in categories:
        counts = (labels[top] == cat).sum(axis=1)  # (units,) top examples of this category
        passing = np.flatnonzero(counts >= min_examples)
        ranks = word_ranks(table, cat)
        expected += 1 - (1 - min(words, vocab) / vocab) ** len(passing)
        good = [int(u) for u in passing if ranks is not None and ranks[u] <= words]
        hits += bool(good)
        pool = good or [int(u) for u in passing]
        unit = max(pool, key=lambda u: (counts[u], -(ranks[u] if ranks is not None else 0))) if pool else None
        detail.append({"category": cat, "multimodal": bool(good), "units_passing_pictures": len(passing),
                       "unit": unit, "examples_of_category": None if unit is None else int(counts[unit]),
                       "word_rank": None if unit is None or ranks is None else int(ranks[unit]),
                       "in_vocabulary": ranks is not None})
    return {"value": hits, "chance": round(expected, 2), "of": len(categories),
            "method": f"a unit counts for a category when >= {min_examples} of its card's top {examples} dataset "
                      f"examples are that category and the category's word is among its top {words} rastered "
                      f"words over the {vocab:,}-word vocabulary; chance: the expected count if word ranks were "
                      "unrelated to pictures",
            "categories": detail}


def continent_units(art: Artifact, labels: Sequence[str], continents: Sequence[str], *, k: int = EXAMPLES,
                    flag: str = "flag", shuffles: int = 20, seed: int = 0) -> dict:
    """Per continent: the best unit's share of that continent among its top ``k`` flag pictures (module doc)."""
    labels = np.asarray([str(x) for x in labels])
    cont = np.asarray([str(x) for x in continents])
    flags = np.flatnonzero((labels == flag) & (cont != ""))
    if len(flags) < k:
        return {"value": None, "note": f"only {len(flags)} flags with a continent in this collection", "continents": []}
    acts = np.stack([np.asarray(art.unit_column(u), np.float32)[flags] for u in range(art.units)])  # (units, F)
    order = np.argsort(-acts, axis=1, kind="stable")[:, :k]  # (units, k) positions among the flags

    def best_shares(flag_cont: np.ndarray) -> dict[str, tuple[float, int]]:
        top_cont = flag_cont[order]  # (units, k)
        out = {}
        for c in sorted(set(flag_cont)):
            share = (top_cont == c).mean(axis=1)
            out[c] = (float(share.max()), int(share.argmax()))
        return out

    observed = best_shares(cont[flags])
    rng = np.random.default_rng(seed)
    null = {c: [] for c in observed}
    for _ in range(shuffles):
        for c, (share, _) in best_shares(rng.permutation(cont[flags])).items():
            null[c].append(share)
    rows, above = [], 0
    for c, (share, unit) in observed.items():
        chance = float((cont[flags] == c).mean())
        shuffled = float(np.mean(null[c]))
        above += share >= 2 * chance
        rows.append({"continent": str(c), "flags": int((cont[flags] == c).sum()), "unit": unit, "share": round(share, 3),
                     "chance": round(chance, 3), "ratio": round(share / chance, 2) if chance else None,
                     "shuffled_best_share": round(shuffled, 3)})
    return {"value": above, "of": len(rows), "k": k, "flags": int(len(flags)),
            "method": f"per continent, the unit whose top {k} flag pictures hold the largest share of it; counted "
                      "when that share is >= 2x the continent's share of all flags; 'shuffled_best_share' is the "
                      f"same best share with the continents shuffled among the flags (mean of {shuffles})",
            "continents": rows}


def demo_card_figures(loaded, art: Artifact, categories: Sequence[str], *, progress=None) -> dict:
    """``multimodal_on_cards`` and ``continent_units`` of ``loaded`` over the demo collection ``art`` (indexed with
    it), the vocabulary scored at the artifact's layer (cached; ``CLIP_EXPLORER_VOCAB_SIZE`` cuts it)."""
    from core.analyses.words import word_activations
    from core.pipeline.demo import load_corpus_index

    labels = art.labels
    if labels is None:
        from core.errors import BadInputError

        raise BadInputError(f"Collection {art.path} has no labels; the card figures need the demo collection.")
    table = word_activations(loaded, art.layer, progress=progress)
    corpus = load_corpus_index().set_index("id")["continent"].to_dict()
    ids = [key.rsplit("/", 1)[-1].rsplit(".", 1)[0] for key in art.keys]
    continents = [c if (c := str(corpus.get(i) or "")) in CONTINENTS else "" for i in ids]
    top = top_example_matrix(art)
    return {"multimodal_on_cards": multimodal_on_cards(art, labels, table, categories, top=top) | {
                "layer": art.layer, "collection": art.path.name, "images": art.rows},
            "continent_units": continent_units(art, labels, continents)}

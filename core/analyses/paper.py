"""Paper reproduction check: do the article's cited RN50x4 units have the article's top rastered words?

``core/data/paper_units.json`` holds the units the article cites (paper-methods §9.1) with their
labels and the repo's top-3 rastered words. The check rasters words, takes each unit's
mean-subtracted activation (max over space at the article layer), ranks the vocabulary per unit
and passes a unit when one of its article words is among its top-k words (paper-methods §12).
It also reports the §12 reverse view: the unit's rank among all units for its best word.
The same machinery runs on any model as a *self-consistency* table (each unit against its own
top word, and against a shuffled assignment). Nothing here imports streamlit.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import comb
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.config import DATA_DIR
from core.errors import BadInputError, WeightsUnavailableError

if TYPE_CHECKING:
    from core.model.loading import LoadedModel

logger = logging.getLogger(__name__)

PAPER_UNITS_FILE = DATA_DIR / "paper_units.json"
ARTICLE_MODEL = "RN50x4/openai"
DEFAULT_K = 10

WordActs = Callable[..., np.ndarray]  # (loaded, words, layer, progress) -> (V, C)


@dataclass(frozen=True)
class PaperUnits:
    """The article's cited units: ``table`` (unit, label, cited, facet, top_words) and §12 pairs."""

    table: pd.DataFrame
    pairs: list[tuple[int, str]]
    layer: str
    arch: str
    units_in_layer: int


def load_paper_units(path: str | Path = PAPER_UNITS_FILE) -> PaperUnits:
    """Read the cited-units data file."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    table = pd.DataFrame(data["units"])
    pairs = [(int(p["unit"]), str(p["word"])) for p in data["section12_pairs"]]
    return PaperUnits(table, pairs, data["layer"], data["arch_prefix"], int(data["units_in_layer"]))


def chance_pass_rate(vocab_size: int, n_expected: int, k: int) -> float:
    """Probability that a random ranking puts one of ``n_expected`` words in the top ``k`` of ``vocab_size``."""
    if vocab_size <= 0 or n_expected <= 0:
        return 0.0
    k = min(k, vocab_size)
    return 1.0 - comb(vocab_size - n_expected, k) / comb(vocab_size, k)


def check_table(acts: np.ndarray, words: Sequence[str], expected: pd.DataFrame, *, k: int = DEFAULT_K,
                shown: int = 3) -> pd.DataFrame:
    """Pass/fail table of units against expected words, from a word x unit activation matrix.

    Args:
        acts: (V, C) activation of each rastered word (max over space) for every unit.
        words: the V words (lower-case matching).
        expected: rows with ``unit``, ``label`` and ``top_words`` (list of words).
        k: a unit passes when one of its expected words is among its top ``k`` words.
        shown: how many of the unit's own top words to list.

    Returns:
        One row per unit: unit, label, expected, found (the unit's top words here), best_word,
        best_rank (1-based rank of the best expected word for that unit; NaN if none is in the
        vocabulary), unit_rank (the unit's rank among all units for ``best_word`` after subtracting
        the vocabulary mean: paper-methods §12's view), passed.
    """
    acts = np.asarray(acts, np.float64)
    words = [w.lower() for w in words]
    if acts.shape[0] != len(words):
        raise BadInputError(f"{len(words)} words but {acts.shape[0]} activation rows.")
    index = {w: i for i, w in enumerate(words)}
    centered = acts - acts.mean(axis=0, keepdims=True)  # subtract the mean over the vocabulary
    rows = []
    for rec in expected.itertuples(index=False):
        unit = int(rec.unit)
        if not 0 <= unit < acts.shape[1]:
            raise BadInputError(f"Unit {unit} is out of range: this layer has {acts.shape[1]} units.")
        col = acts[:, unit]
        order = np.argsort(-col, kind="stable")
        rank_of = np.empty(len(words), int)
        rank_of[order] = np.arange(1, len(words) + 1)
        exp = [w.lower() for w in rec.top_words if w.strip()]
        ranked = sorted((int(rank_of[index[w]]), w) for w in exp if w in index)
        best_rank, best_word = ranked[0] if ranked else (None, None)
        unit_rank = None
        if best_word is not None:
            row = centered[index[best_word]]
            unit_rank = int((row > row[unit]).sum()) + 1
        rows.append({"unit": unit, "label": getattr(rec, "label", ""), "expected": ", ".join(rec.top_words),
                     "found": ", ".join(words[i] for i in order[:shown]), "best_word": best_word,
                     "best_rank": best_rank, "unit_rank": unit_rank,
                     "passed": best_rank is not None and best_rank <= k})
    return pd.DataFrame(rows)


def summarize(table: pd.DataFrame, vocab_size: int, k: int) -> dict:
    """Pass count, rate and the chance rate of the table."""
    n = len(table)
    exp_sizes = [len([w for w in e.split(", ") if w]) for e in table["expected"]] if n else []
    chance = float(np.mean([chance_pass_rate(vocab_size, m, k) for m in exp_sizes])) if n else 0.0
    passed = int(table["passed"].sum()) if n else 0
    return {"passed": passed, "total": n, "rate": round(passed / n, 4) if n else 0.0, "chance": round(chance, 4),
            "k": k, "vocabulary": vocab_size}


def is_article_model(loaded: LoadedModel, paper: PaperUnits | None = None) -> bool:
    """Whether ``loaded`` is an RN50x4 (the only model the article's unit numbers refer to)."""
    paper = paper or load_paper_units()
    return loaded.spec.arch.startswith(paper.arch) and loaded.family == "resnet"


def require_article_model(loaded: LoadedModel) -> None:
    """Refuse models the article's unit numbers do not refer to.

    Raises:
        WeightsUnavailableError: with where the real weights go.
    """
    if is_article_model(loaded) and loaded.spec.kind == "random":
        raise WeightsUnavailableError(
            f"{loaded.id} has random weights: the article's unit numbers mean nothing there. Load the real weights "
            f"with --model {ARTICLE_MODEL} (cached) or --checkpoint FILE --arch RN50x4.")
    if not is_article_model(loaded):
        raise WeightsUnavailableError(
            f"check-paper compares against the article's RN50x4 units; {loaded.id} is not an RN50x4. "
            f"Load the real weights with --model {ARTICLE_MODEL} (cached) or --checkpoint FILE --arch RN50x4 "
            "(OpenAI's RN50x4.pt works as is), or run --self-consistency to test the machinery on this model.")


def vocabulary(paper: PaperUnits, extra: Sequence[str] = (), *, quick: bool = False) -> list[str]:
    """Check vocabulary: every expected word and §12 word, then the shipped ~12,000-word list
    (``core.analyses.words``; the article used ~10,000 English words) or, with ``quick``, only the
    dashboard's labelling vocabulary (~400 words; faster, and an easier test), plus ``extra``."""
    words: dict[str, None] = {}
    for ws in paper.table["top_words"]:
        for w in ws:
            if w.strip():
                words[w.strip().lower()] = None
    for _, w in paper.pairs:
        words[w.lower()] = None
    if not quick:
        from core.analyses.words import load_vocabulary

        for w in load_vocabulary():
            words[w.strip().lower()] = None
    vocab_file = DATA_DIR / "zero_shot_vocab.txt"
    if quick and vocab_file.is_file():
        for line in vocab_file.read_text(encoding="utf-8").splitlines():
            line = line.strip().lower()
            if line and not line.startswith("#") and " " not in line:
                words[line] = None
    for w in extra:
        if w.strip():
            words[w.strip().lower()] = None
    return list(words)


@dataclass
class PaperCheck:
    """Result of a check: the table, its summary, the model and layer."""

    table: pd.DataFrame
    summary: dict
    model: str
    layer: str
    mode: str  # "article" or "self-consistency"

    def to_dict(self) -> dict:
        return {"model": self.model, "layer": self.layer, "mode": self.mode, "summary": self.summary,
                "units": json.loads(self.table.to_json(orient="records"))}


def _word_acts(loaded: LoadedModel, words: Sequence[str], layer: str, progress=None) -> np.ndarray:
    """The rastered-word activations (``core.analyses.words``): cached, resumable, (V, C)."""
    from core.analyses.words import word_activations

    return word_activations(loaded, layer, words=list(words), progress=progress).acts


def check_paper(loaded: LoadedModel, *, k: int = DEFAULT_K, units: Sequence[int] | None = None,
                extra_words: Sequence[str] = (),
                quick: bool = False, word_acts: WordActs | None = None, progress=None) -> PaperCheck:
    """Run the reproduction check on a loaded RN50x4.

    Args:
        units: restrict to these cited units (default all).
        quick: the small vocabulary (see ``vocabulary``).
        word_acts: (loaded, words, layer, progress) -> (V, C) activations; default ``core.analyses.words``.

    Raises:
        WeightsUnavailableError: not an RN50x4; BadInputError: a unit the article does not cite.
    """
    require_article_model(loaded)
    paper = load_paper_units()
    table = paper.table
    if units:
        unknown = sorted(set(units) - set(table["unit"]))
        if unknown:
            raise BadInputError(f"Units {unknown} are not cited by the article. "
                                f"Cited units: {', '.join(map(str, table['unit'][:20]))} ... (see core/data/paper_units.json).")
        table = table[table["unit"].isin(units)]
    words = vocabulary(paper, extra_words, quick=quick)
    acts = (word_acts or _word_acts)(loaded, words, paper.layer, progress)
    result = check_table(acts, words, table, k=k)
    return PaperCheck(result, summarize(result, len(words), k), loaded.id, paper.layer, "article")


def self_consistency(acts: np.ndarray, words: Sequence[str], candidates: Sequence[str], *, seed: int = 0
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Self-consistency tables: units whose top word is a candidate, against that word and a shuffle.

    For each candidate word that is some unit's top rastered word, the first such unit is paired
    with it (the "true" table, which must pass at k=1); the same units paired with a cyclic shift
    of those words (a derangement) form the "shuffled" table, which must fail at k=1.

    Returns:
        ``(true_table, shuffled_table)`` as ``check_table`` outputs with k=1.

    Raises:
        BadInputError: fewer than two candidate words are any unit's top word.
    """
    acts = np.asarray(acts, np.float64)
    words_l = [w.lower() for w in words]
    top = acts.argmax(axis=0)  # (C,) each unit's top word index
    pairs: dict[str, int] = {}
    for unit, wi in enumerate(top):
        w = words_l[int(wi)]
        if w in {c.lower() for c in candidates} and w not in pairs:
            pairs[w] = unit
    if len(pairs) < 2:
        raise BadInputError(f"Only {len(pairs)} of the candidate words is any unit's top word; "
                            "a self-consistency table needs at least two.")
    ws = list(pairs)
    rng = np.random.default_rng(seed)
    ws = [ws[i] for i in rng.permutation(len(ws))]
    true = pd.DataFrame({"unit": [pairs[w] for w in ws], "label": ws, "top_words": [[w] for w in ws]})
    shifted = ws[1:] + ws[:1]
    fake = pd.DataFrame({"unit": [pairs[w] for w in ws], "label": shifted, "top_words": [[w] for w in shifted]})
    return check_table(acts, words_l, true, k=1), check_table(acts, words_l, fake, k=1)


def self_check(loaded: LoadedModel, *, candidates: Sequence[str] | None = None, extra_words: Sequence[str] = (),
               word_acts: WordActs | None = None, layer: str | None = None, progress=None
               ) -> tuple[PaperCheck, PaperCheck]:
    """``self_consistency`` on any model; candidates default to the demo corpus's categories."""
    from core.model.hooks import article_layer
    from core.pipeline.demo import CATEGORIES

    layer = layer or article_layer(loaded)
    candidates = list(candidates or CATEGORIES)
    words: dict[str, None] = {w.lower(): None for w in list(candidates) + list(extra_words) if w.strip()}
    vocab = list(words)
    acts = (word_acts or _word_acts)(loaded, vocab, layer, progress)
    true, fake = self_consistency(acts, vocab, candidates)
    return (PaperCheck(true, summarize(true, len(vocab), 1), loaded.id, layer, "self-consistency"),
            PaperCheck(fake, summarize(fake, len(vocab), 1), loaded.id, layer, "self-consistency (shuffled)"))

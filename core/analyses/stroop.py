"""The Stroop experiment (paper-methods §7.4): colour words in mismatched ink, zero-shot.

Each colour word is drawn in every ink colour (congruent and incongruent pairs), plus one control
image per ink (a non-colour word, ``CONTROL_WORD``, in that ink). The model picks among the colour
names with the article's prompt "my favorite word, written in the color {}"; we count how often
the written word wins and how often the ink wins. The article (RN50x4): the word wins 49/49
incongruent cases; the ink wins all 8 controls. Nothing here imports streamlit.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from PIL import Image

from core.analyses import raster
from core.analyses.zeroshot import ZeroShotClassifier
from core.errors import BadInputError, with_suggestions

if TYPE_CHECKING:
    from core.model.loading import LoadedModel

logger = logging.getLogger(__name__)

STROOP_TEMPLATE = "my favorite word, written in the color {}"
COLORS: dict[str, tuple[int, int, int]] = {
    "black": (0, 0, 0), "red": (220, 20, 20), "green": (20, 150, 40), "blue": (30, 60, 220),
    "purple": (130, 40, 170), "orange": (255, 140, 0), "pink": (255, 105, 180), "yellow": (240, 210, 0),
}
CONTROL_WORD = "example"
ARTICLE = {"model": "RN50x4", "word_wins": 49, "incongruent": 49, "control_ink_wins": 8, "controls": 8,
           "source": "paper-methods §7.4 (stroop_experiment.json)"}


def check_colors(names: Sequence[str]) -> list[str]:
    """Validate colour names against ``COLORS``.

    Raises:
        BadInputError: unknown names (with the valid ones), or fewer than two.
    """
    names = [n.strip().lower() for n in names if n.strip()]
    for n in names:
        if n not in COLORS:
            raise BadInputError(with_suggestions(f"Unknown colour '{n}'.", n, list(COLORS)))
    if len(set(names)) < 2:
        raise BadInputError("The Stroop test needs at least two different colours, e.g. red, green.")
    return list(dict.fromkeys(names))


def stroop_image(word: str, ink: str, *, size: int = 224, font: str = raster.DEFAULT_FONT) -> Image.Image:
    """The word ``word`` written in the colour ``ink`` (a ``COLORS`` name) on white."""
    if ink not in COLORS:
        raise BadInputError(with_suggestions(f"Unknown ink colour '{ink}'.", ink, list(COLORS)))
    if not word.strip():
        raise BadInputError("Type a word to draw.")
    return raster.render_word(word.strip(), size=size, font=font, fg=COLORS[ink], bg=(255, 255, 255))


def stroop_trials(colors: Sequence[str], *, controls: bool = True) -> pd.DataFrame:
    """All (word, ink) pairs: ``kind`` is congruent, incongruent or control (word = ``CONTROL_WORD``)."""
    colors = check_colors(colors)
    rows = [{"word": w, "ink": i, "kind": "congruent" if w == i else "incongruent"} for w in colors for i in colors]
    if controls:
        rows += [{"word": CONTROL_WORD, "ink": i, "kind": "control"} for i in colors]
    return pd.DataFrame(rows)


def judge(word: str, ink: str, pred: str) -> str:
    """Who won one trial: ``both`` (congruent and read right), ``word``, ``ink`` or ``other``."""
    if pred == word:
        return "both" if word == ink else "word"
    return "ink" if pred == ink else "other"


def score_trials(trials: pd.DataFrame, probs: np.ndarray, classes: Sequence[str]) -> pd.DataFrame:
    """Add the prediction and who won to each trial.

    Args:
        trials: from ``stroop_trials``.
        probs: (T, K) probabilities over ``classes`` (colour names).

    Returns:
        ``trials`` plus pred, p_word, p_ink, winner (``word``, ``ink``, ``both`` when congruent and
        right, ``other``).
    """
    classes = list(classes)
    probs = np.asarray(probs)
    pred = [classes[j] for j in probs.argmax(1)]
    col = {c: j for j, c in enumerate(classes)}
    out = trials.copy().reset_index(drop=True)
    out["pred"] = pred
    out["p_word"] = [probs[r, col[w]] if w in col else np.nan for r, w in enumerate(out["word"])]
    out["p_ink"] = [probs[r, col[i]] for r, i in enumerate(out["ink"])]
    out["winner"] = [judge(w, i, p) for w, i, p in zip(out["word"], out["ink"], out["pred"])]
    return out


def summarize(scored: pd.DataFrame) -> dict:
    """Word-win and ink-win counts per trial kind, with the article's figures beside them."""
    inc = scored[scored["kind"] == "incongruent"]
    con = scored[scored["kind"] == "congruent"]
    ctl = scored[scored["kind"] == "control"]
    k = scored["ink"].nunique()
    return {
        "incongruent": int(len(inc)),
        "word_wins": int((inc["winner"] == "word").sum()),
        "ink_wins": int((inc["winner"] == "ink").sum()),
        "other_wins": int((inc["winner"] == "other").sum()),
        "word_win_rate": float((inc["winner"] == "word").mean()) if len(inc) else None,
        "chance": round(1 / k, 4) if k else None,
        "congruent": int(len(con)),
        "congruent_correct": int((con["winner"] == "both").sum()),
        "controls": int(len(ctl)),
        "control_ink_wins": int((ctl["winner"] == "ink").sum()),
        "article": dict(ARTICLE),
    }


def run_stroop(loaded: LoadedModel, classifier: ZeroShotClassifier, *, size: int | None = None,
               font: str = raster.DEFAULT_FONT, controls: bool = True) -> tuple[pd.DataFrame, dict]:
    """Run the whole experiment: render, classify, score.

    Args:
        loaded: a ``LoadedModel``.
        classifier: zero-shot head over colour names (``build_classifier(loaded, colors, STROOP_TEMPLATE)``).
        size: image side; default the model's input size.

    Returns:
        (scored trials, summary dict).
    """
    from core.analyses.zeroshot import classify_images

    trials = stroop_trials(classifier.classes, controls=controls)
    size = size or loaded.image_size
    images = [stroop_image(w, i, size=size, font=font) for w, i in zip(trials["word"], trials["ink"])]
    scored = score_trials(trials, classify_images(loaded, images, classifier), classifier.classes)
    summary = summarize(scored) | {"model": loaded.id, "template": list(classifier.templates),
                                   "colors": list(classifier.classes), "font": font, "size": size}
    return scored, summary


def stroop_figure(loaded: LoadedModel, *, font: str = raster.DEFAULT_FONT) -> dict:
    """The Stroop word-win rate as an eval figure (``{"value", "chance", ...}``), the article's 8 colours and prompt.

    The single implementation behind both ``python -m core stroop`` and ``eval-demo``'s ``stroop`` figure.
    """
    from core.analyses.zeroshot import build_classifier

    _, s = run_stroop(loaded, build_classifier(loaded, list(COLORS), STROOP_TEMPLATE), font=font)
    return {"value": s["word_win_rate"], "chance": s["chance"], "n": s["incongruent"],
            "chance_note": "the written word wins by luck 1 time in K (K colours)"} | s

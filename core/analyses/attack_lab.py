"""Dataset-level typographic attack evaluation (the article's automated attack, zero-shot).

Labelled picture sets come from an indexed collection (an artifact with labels; images are read
only through ``Artifact.image_path``, which never leaves the collection root) or from the shipped
demo corpus's held-out pictures (the set ``eval-demo`` uses). ``attack_eval`` attacks every correctly
classified picture with each word in each style, using ``core.analyses.attacks`` for drawing, forward
passes and the rate definitions. Nothing here imports streamlit.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from PIL import Image

from core.analyses import raster
from core.analyses.attacks import (
    STYLES,
    AttackSpec,
    apply_attack,
    flip_rates,
    forward_units,
    model_view,
    risers_fallers,
)
from core.analyses.zeroshot import ZeroShotClassifier
from core.errors import BadInputError, with_suggestions

if TYPE_CHECKING:
    from core.model.loading import LoadedModel
    from core.pipeline.store import Artifact

logger = logging.getLogger(__name__)

DEFAULT_LIMIT = 200
CHUNK = 64  # attacked pictures per forward batch in attack_eval


@dataclass
class PictureSet:
    """Pictures with their class names, the ordered class list and a description of the source."""

    images: list[Image.Image]
    labels: list[str]
    classes: list[str]
    source: str
    keys: list[str]


def pick_rows(n: int, limit: int | None, seed: int = 0) -> np.ndarray:
    """Up to ``limit`` of ``n`` rows, a seeded sample kept in row order (all rows when ``limit`` is None)."""
    if limit is not None and limit < 1:
        raise BadInputError(f"--limit must be at least 1 (got {limit}).")
    if limit is None or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=int(limit), replace=False))


def from_artifact(art: Artifact, *, limit: int | None = DEFAULT_LIMIT, seed: int = 0,
                  classes: Sequence[str] | None = None) -> PictureSet:
    """Labelled pictures of an indexed collection (unlabelled rows are skipped).

    Args:
        classes: keep only pictures labelled with one of these (a picture of any other label has no right answer
            among them); None: every labelled picture.

    Raises:
        BadInputError: the collection has no labels, or fewer than two classes.
    """
    from core.pipeline.images import open_image

    labels = art.labels
    if labels is None:
        raise BadInputError(f"Collection {art.path} has no labels; the attack evaluation needs labelled pictures "
                            "(index a folder whose sub-folders are the class names).")
    keep = None if classes is None else {str(c) for c in classes}
    labelled = np.array([r for r, lab in enumerate(labels) if str(lab).strip() and (keep is None or str(lab) in keep)],
                        dtype=int)
    found = sorted({str(labels[r]) for r in labelled})
    if len(found) < 2:
        where = "" if keep is None else " among the classes in use"
        raise BadInputError(f"Collection {art.path} has {len(found)} class(es){where}; zero-shot attacks need at "
                            "least two.")
    classes = found
    rows = labelled[pick_rows(len(labelled), limit, seed)]
    images = [open_image(art.image_path(int(r))) for r in rows]
    return PictureSet(images, [str(labels[int(r)]) for r in rows], classes, f"collection {art.path}",
                      [art.keys[int(r)] for r in rows])


def demo_heldout(size: int, *, limit: int | None = None, seed: int = 0) -> PictureSet:
    """The demo corpus's held-out pictures of the evaluated categories, resized to ``size`` (as eval-demo)."""
    from core.pipeline.demo import CATEGORIES, load_corpus_image, load_corpus_index

    df = load_corpus_index()
    test = df[(df["split"] == "test") & df["label"].isin(CATEGORIES)].reset_index(drop=True)
    test = test.iloc[pick_rows(len(test), limit, seed)]
    images = [load_corpus_image(i).resize((size, size), Image.Resampling.LANCZOS) for i in test["id"]]
    return PictureSet(images, list(test["label"]), list(CATEGORIES), "demo corpus, held-out test split",
                      list(test["id"]))


# paper-methods §7.2: the article's automated attacks (RN50x4, linear probe, 1000 ImageNet val images).
ARTICLE_TABLE: tuple[dict, ...] = (
    {"target": "waste container", "word": "trash", "cover": 0.0759, "success": 0.954},
    {"target": "iPod", "word": "iPod", "cover": 0.0680, "success": 0.947},
    {"target": "rifle", "word": "rifle", "cover": 0.0641, "success": 0.910},
    {"target": "pizza", "word": "pizza", "cover": 0.0811, "success": 0.923},
    {"target": "radio", "word": "radio", "cover": 0.0773, "success": 0.770},
    {"target": "great white shark", "word": "shark", "cover": 0.0833, "success": 0.622},
    {"target": "library", "word": "library", "cover": 0.0995, "success": 0.759},
    {"target": "Siamese cat", "word": "meow", "cover": 0.0844, "success": 0.465},
    {"target": "piggy bank", "word": "$$$", "cover": 0.0699, "success": 0.364},
)


@dataclass(frozen=True)
class AttackWord:
    """An attack text and the class it names (``target``; None for a neutral control word)."""

    word: str
    target: str | None


def parse_attack_words(words: Sequence[str], classes: Sequence[str], *, controls: Sequence[str] = ()
                       ) -> list[AttackWord]:
    """``word`` (a class name) or ``word=class`` -> AttackWords; ``controls`` name no class.

    Raises:
        BadInputError: a word that is no class and has no ``=class``, or an unknown class.
    """
    lower = {c.lower(): c for c in classes}
    out = []
    for item in words:
        word, sep, cls = str(item).partition("=")
        word, cls = word.strip(), (cls.strip() if sep else word.strip())
        if not word:
            raise BadInputError(f"Empty attack word in {item!r}; use WORD or WORD=CLASS.")
        if cls.lower() not in lower:
            raise BadInputError(with_suggestions(
                f"Attack target '{cls}' is not one of the classes; write WORD=CLASS to aim a word at a class.",
                cls, list(classes)))
        out.append(AttackWord(word, lower[cls.lower()]))
    out += [AttackWord(w.strip(), None) for w in controls if w.strip()]
    if not out:
        raise BadInputError("No attack words: give at least one, e.g. --words " + " ".join(list(classes)[:3]))
    return out


@dataclass
class AttackEval:
    """Result of ``attack_eval``.

    Attributes:
        table: one row per (word, style): word, target, style, n (attacked pictures), success,
            any_flip, chance (any_flip / (K-1): success if flips landed on a random other class), cover.
        deltas: word, style, unit, delta (mean activation change over the attacked pictures).
        meta: model, layer, template, classes, images, correct, clean_accuracy, styles, stat.
    """

    table: pd.DataFrame
    deltas: pd.DataFrame
    meta: dict

    def unit_deltas(self, word: str | None = None) -> pd.DataFrame:
        """Per-unit mean activation change over all styles (and all words when ``word`` is None)."""
        d = self.deltas if word is None else self.deltas[self.deltas["word"] == word]
        mean = d.groupby("unit", as_index=False)["delta"].mean().sort_values("delta", ascending=False)
        return mean.reset_index(drop=True)

    def top_units(self, word: str | None = None, top: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Risers and fallers of ``unit_deltas``."""
        return risers_fallers(self.unit_deltas(word), top)

    def summary(self) -> dict:
        """Per style, rates pooled over the words that name a class (weighted by pictures attacked)."""
        out = {}
        t = self.table[self.table["target"].notna() & (self.table["n"] > 0)]
        for style, g in t.groupby("style", sort=False):
            n = int(g["n"].sum())
            pool = {c: float((g[c] * g["n"]).sum() / n) for c in ("success", "any_flip", "chance", "cover")}
            out[str(style)] = {"n": n} | {c: round(v, 4) for c, v in pool.items()}
        return out

    def to_dict(self, top: int = 10) -> dict:
        """JSON-ready summary, with the article's table beside the measured one."""
        rise, fall = self.top_units(top=top)
        return {**self.meta, "summary": self.summary(),
                "table": self.table.replace({np.nan: None}).to_dict("records"),
                "neurons": {"risers": rise.to_dict("records"), "fallers": fall.to_dict("records")},
                "article": {"table": list(ARTICLE_TABLE), "model": "RN50x4", "classifier": "linear probe",
                            "n": 1000, "source": "paper-methods §7.2 (small_attacks.json)"}}


def attack_eval(loaded: LoadedModel, images: Sequence[Image.Image], labels: Sequence[str],
                classifier: ZeroShotClassifier,
                words: Sequence[AttackWord], *, styles: Sequence[str] = STYLES, area: float = 0.08,
                font: str = raster.DEFAULT_FONT, layer: str | None = None, stat: str = "max",
                progress: Callable[[int, int], None] | None = None) -> AttackEval:
    """The article's automated attack over a labelled collection, zero-shot.

    Every picture classified correctly zero-shot (and not already of the target class) gets each
    attack word in each style; success, any-flip and pixel cover are averaged per (word, style).

    Args:
        loaded: a ``LoadedModel``; images/labels: the pictures and their class names.
        classifier: zero-shot head whose classes include the labels.
        words: from ``parse_attack_words``.
        styles: ``article`` (8 copies, fixed spots) and/or ``sticker`` (one box of ``area``).
        progress: called with (attacks done, attacks total).
    """
    from core.model.hooks import article_layer

    bad = [s for s in styles if s not in STYLES]
    if bad or not styles:
        raise BadInputError(with_suggestions(f"Unknown attack style '{bad[0] if bad else ''}'.", bad[0] if bad else "",
                                             STYLES))
    truth = np.array([-1 if classifier.index_of(str(x)) is None else classifier.index_of(str(x)) for x in labels])
    if len(images) != len(labels) or len(images) == 0:
        raise BadInputError(f"Need pictures with labels (got {len(images)} pictures, {len(labels)} labels).")
    layer = layer or article_layer(loaded)
    images = [model_view(im, loaded.image_size) for im in images]
    emb0, units0 = forward_units(loaded, images, layer=layer, stat=stat)
    pred0 = classifier.probs(emb0).argmax(1)
    correct = np.flatnonzero((pred0 == truth) & (truth >= 0))
    plan = [(w, s, correct[truth[correct] != (classifier.index_of(w.target) if w.target else -1)])
            for w in words for s in styles]
    total, done = sum(len(r) for *_, r in plan), 0
    rows, deltas = [], []
    for w, style, idx in plan:
        spec = AttackSpec(w.word, style=style, area=area, font=font)
        t = classifier.index_of(w.target) if w.target else -1
        row = {"word": w.word, "target": w.target, "style": style, "n": int(len(idx)), "success": None,
               "any_flip": None, "chance": None, "cover": None}
        preds, covers, dsum = [], [], 0.0
        for start in range(0, len(idx), CHUNK):
            chunk = idx[start:start + CHUNK]
            pairs = [apply_attack(images[i], spec) for i in chunk]
            emb, units = forward_units(loaded, [p[0] for p in pairs], layer=layer, stat=stat)
            preds.append(classifier.probs(emb).argmax(1))
            covers += [p[1] for p in pairs]
            dsum = dsum + (units - units0[chunk]).sum(0)  # (C,)
            done += len(chunk)
            if progress:
                progress(done, total)
        if len(idx):
            rates = flip_rates(truth[idx], np.concatenate(preds), np.full(len(idx), t))
            row.update(success=rates["success"], any_flip=rates["any_flip"],
                       chance=rates["any_flip"] / (len(classifier.classes) - 1), cover=float(np.mean(covers)))
            d = np.asarray(dsum) / len(idx)
            deltas.append(pd.DataFrame({"word": w.word, "style": style, "unit": np.arange(d.size), "delta": d}))
        rows.append(row)
    meta = {"model": loaded.id, "layer": layer, "stat": stat, "template": list(classifier.templates),
            "classes": list(classifier.classes), "images": len(images), "correct": int(len(correct)),
            "clean_accuracy": float(np.mean(pred0[truth >= 0] == truth[truth >= 0])) if (truth >= 0).any() else None,
            "styles": list(styles), "sticker_area": area, "font": font}
    cols = ["word", "style", "unit", "delta"]
    return AttackEval(pd.DataFrame(rows), pd.concat(deltas, ignore_index=True) if deltas else pd.DataFrame(columns=cols),
                      meta)

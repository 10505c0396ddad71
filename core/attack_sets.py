"""Labelled picture sets for the dataset-level attack evaluation.

Two sources: an indexed collection (an artifact with labels; images are read only through
``Artifact.image_path``, which never leaves the collection root), or the shipped demo corpus's
held-out pictures (the set ``eval-demo`` uses). Nothing here imports torch or streamlit.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from PIL import Image

from core.errors import BadInputError

logger = logging.getLogger(__name__)

DEFAULT_LIMIT = 200


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


def from_artifact(art, *, limit: int | None = DEFAULT_LIMIT, seed: int = 0) -> PictureSet:
    """Labelled pictures of an indexed collection (unlabelled rows are skipped).

    Raises:
        BadInputError: the collection has no labels, or fewer than two classes.
    """
    from core.images import open_image

    labels = art.labels
    if labels is None:
        raise BadInputError(f"Collection {art.path} has no labels; the attack evaluation needs labelled pictures "
                            "(index a folder whose sub-folders are the class names).")
    labelled = np.array([r for r, lab in enumerate(labels) if str(lab).strip()])
    classes = sorted({str(labels[r]) for r in labelled})
    if len(classes) < 2:
        raise BadInputError(f"Collection {art.path} has {len(classes)} class(es); zero-shot attacks need at least two.")
    rows = labelled[pick_rows(len(labelled), limit, seed)]
    images = [open_image(art.image_path(int(r))) for r in rows]
    return PictureSet(images, [str(labels[int(r)]) for r in rows], classes, f"collection {art.path}",
                      [art.keys[int(r)] for r in rows])


def demo_heldout(size: int, *, limit: int | None = None, seed: int = 0) -> PictureSet:
    """The demo corpus's held-out pictures of the evaluated categories, resized to ``size`` (as eval-demo)."""
    from core.demo import CATEGORIES, load_corpus_image, load_corpus_index

    df = load_corpus_index()
    test = df[(df["split"] == "test") & df["label"].isin(CATEGORIES)].reset_index(drop=True)
    test = test.iloc[pick_rows(len(test), limit, seed)]
    images = [load_corpus_image(i).resize((size, size), Image.Resampling.LANCZOS) for i in test["id"]]
    return PictureSet(images, list(test["label"]), list(CATEGORIES), "demo corpus, held-out test split",
                      list(test["id"]))

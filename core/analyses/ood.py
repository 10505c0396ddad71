"""The demo model's out-of-distribution (OOD) data: Symbola glyphs and held-out neutral words.

``assets/demo_ood/`` (``index.csv`` + ``images.zip``, built by ``scripts/build_ood_corpus.py``) holds 129
monochrome emoji and symbol drawings from the Symbola font (Debian's fonts-symbola) in the demo's 16 evaluated
categories: a source and a style the model never saw in training. The glyphs are split by glyph into a
validation half (``val``, for model selection) and a test half (``test``, reported once).

Held-out neutral words (``heldout_words``): words of the shipped 12,000-word vocabulary that were never a
sticker or a rendered word in training. Training drew its neutral stickers from every lowercase vocabulary
word of 2 to 8 letters (``scripts/train_demo_model.py``, ``neutral_vocabulary``), so the held-out words are
the 9 and 10 letter ones (the shortest left, 1,918 words), minus every word that contains a category name
("education" holds "cat", "signature" "sign"), minus the category's synonyms and members (``RELATED``), minus
the corpus's file-name words (rendered as words in training). ``tests/unit/test_ood_eval.py`` checks that the
set is disjoint from training's word lists. No torch, no streamlit.
"""

from __future__ import annotations

import functools
import io
import math
import zipfile

import pandas as pd
from PIL import Image

from core.config import ASSETS_DIR
from core.errors import CoreError
from core.pipeline.demo import CATEGORIES

OOD_DIR = ASSETS_DIR / "demo_ood"
SPLITS = ("val", "test")
WORD_LENGTHS = (9, 10)
# Synonyms and members of the 16 categories among long words (9-10 letters); left out of the neutral words.
RELATED: frozenset[str] = frozenset("""
    butterfly butterflies strawberry blackberry blueberry raspberry cranberry pineapple watermelon tangerine
    grapefruit sunflower sunflowers blossoms christmas evergreen apartment apartments residence residences
    household warehouse greenhouse farmhouse mansions dwellings cottages submarine steamboat speedboat
    battleship sailboats steamship billboard billboards signboard signposts timepiece stopwatch wristwatch
    hourglass headdress emoticons mushrooms vegetable vegetables gardening plantation bouquets orchards
    goldfish jellyfish dragonfly cockroach mosquitos caterpillar kittens puppies retriever chihuahua
""".split())


class OodAssetsMissingError(CoreError):
    """The shipped OOD pictures (assets/demo_ood) are not there."""


def _check_files(ood_dir) -> None:
    for name in ("index.csv", "images.zip"):
        if not (ood_dir / name).is_file():
            raise OodAssetsMissingError(
                f"OOD picture file {ood_dir / name} is missing; restore it from git (`git checkout -- "
                "assets/demo_ood`) or rebuild it with `python scripts/build_ood_corpus.py` (needs fonts-symbola)")


@functools.lru_cache(maxsize=4)
def _load(ood_dir) -> tuple[pd.DataFrame, dict[str, bytes]]:
    _check_files(ood_dir)
    df = pd.read_csv(ood_dir / "index.csv", dtype=str, keep_default_na=False)
    with zipfile.ZipFile(ood_dir / "images.zip") as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    return df, members


def load_ood_index(split: str | None = None, ood_dir=None) -> pd.DataFrame:
    """The OOD index (id, path, label, codepoint, name, split, source, licence), optionally one split.

    Raises:
        OodAssetsMissingError: if the files are missing.
        CoreError: for an unknown split.
    """
    if split is not None and split not in SPLITS:
        raise CoreError(f"unknown OOD split {split!r}; valid: {', '.join(SPLITS)}")
    df = _load(ood_dir or OOD_DIR)[0]
    return (df if split is None else df[df["split"] == split]).reset_index(drop=True)


def load_ood_images(ids, ood_dir=None) -> list[Image.Image]:
    """The pictures of some OOD ids, RGB (black drawings on white)."""
    df, members = _load(ood_dir or OOD_DIR)
    paths = dict(zip(df["id"], df["path"]))
    return [Image.open(io.BytesIO(members[paths[i]])).convert("RGB") for i in ids]


def heldout_words() -> list[str]:
    """Neutral words that training never drew on a sticker or rendered (module doc), most frequent first."""
    from core.analyses.words import _read_vocabulary
    from core.pipeline.demo import load_corpus_index

    objects = {w for obj in load_corpus_index()["object"] for w in [obj, *obj.split()]}
    return [w for w in _read_vocabulary(None)
            if len(w) in WORD_LENGTHS and w.isalpha() and w not in RELATED and w not in objects
            and not any(c in w for c in CATEGORIES)]


def wilson(k: float, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """Wilson score 95 % interval of a rate k/n observed over n independent units (None for n = 0). It always
    contains k/n."""
    if n <= 0:
        return None
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def proportion(k: int, n: int, *, units: int | None = None) -> dict:
    """``{"value", "k", "n", "ci95"}``. ``units``: the number of independent units when each has several trials
    (pictures with several attacks each): the interval is Wilson's at the same rate over ``units`` trials, the
    widest that the trials' correlation within a picture allows."""
    m = n if units is None else units
    ci = wilson(k * m / n, m) if n and m else None
    return {"value": round(k / n, 4) if n else None, "k": int(k), "n": int(n),
            "ci95": [round(ci[0], 4), round(ci[1], 4)] if ci else None}

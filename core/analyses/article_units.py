"""The article's own names for its model's units: is the loaded model the article's RN50x4, and what did the
article call a unit (``core/data/paper_units.json``: the 161 cited units, their labels and where they are cited).

The weights' fingerprint cannot be checked offline (the article publishes none), so the match is decided by what
can be known: the architecture (RN50x4, ModifiedResNet) and where the weights come from:

- ``RN50x4/openai`` (open_clip's copy of OpenAI's release): the article's model;
- ``RN50x4@FILE`` whose FILE is a TorchScript archive (OpenAI's release format) or builds a QuickGELU RN50x4
  (OpenAI's activation; open_clip's own RN50x4 trainings use GELU): the article's model;
- any other RN50x4 weights: an architecture match only (labels shown, with that caveat);
- random weights, other architectures: no labels.

Labels only apply at the article's layer (``visual.layer4.5.act3@in``). No streamlit, no torch at import.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from core.analyses.paper import PAPER_UNITS_FILE, load_paper_units

ARTICLE_URL = "https://distill.pub/2021/multimodal-neurons/"
EXACT, ARCH_ONLY = "exact", "architecture"


@dataclass(frozen=True)
class ArticleMatch:
    """How the loaded model relates to the article's: ``kind`` ``exact`` or ``architecture``; ``reason`` says why."""

    kind: str
    reason: str
    layer: str

    @property
    def exact(self) -> bool:
        return self.kind == EXACT


@lru_cache(maxsize=1)
def cited_units() -> pd.DataFrame:
    """The 161 cited units: unit, label, cited (where in the article), facet, top_words (list), link."""
    table = load_paper_units(PAPER_UNITS_FILE).table.copy()
    table["link"] = [article_link(label) for label in table["label"]]
    return table.sort_values("unit", kind="stable").reset_index(drop=True)


def article_link(label: str) -> str:
    """A link to the article that scrolls to the label's first mention (a text fragment; browsers without text
    fragments open the article's top)."""
    words = str(label).split(" (")[0].strip() or str(label)  # "Spiderman (intro figure ...)": the name itself
    return f"{ARTICLE_URL}#:~:text={quote(words, safe='')}"


def _base_arch(arch: str) -> str:
    return arch.removesuffix("-quickgelu")


@lru_cache(maxsize=16)
def _is_torchscript(path: str, mtime_ns: int) -> bool:
    """A zip holding ``constants.pkl`` or ``code/``: torch.jit's archive layout (read without loading it)."""
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith("/constants.pkl") or "/code/" in n for n in z.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def _uses_quick_gelu(loaded) -> bool:
    try:
        from core.model.fingerprint import uses_quick_gelu

        return uses_quick_gelu(loaded.model)
    except Exception:  # noqa: BLE001 - no model or no open_clip: not provable, so not an exact match
        return False


def article_match(loaded) -> ArticleMatch | None:
    """Whether the article's unit labels apply to ``loaded`` (see the module docstring); None: they do not."""
    paper = load_paper_units(PAPER_UNITS_FILE)
    spec = loaded.spec
    if spec.kind in ("demo", "random") or _base_arch(spec.arch) != paper.arch or loaded.family != "resnet":
        return None
    if spec.kind == "pretrained" and str(spec.tag).lower() == "openai":
        return ArticleMatch(EXACT, f"{spec.arch}/openai is OpenAI's release, the article's model", paper.layer)
    if spec.kind == "file" and spec.path is not None:
        path = Path(spec.path)
        mtime = path.stat().st_mtime_ns if path.is_file() else 0
        if mtime and _is_torchscript(str(path), mtime):
            return ArticleMatch(EXACT, f"{path.name} is a TorchScript archive, OpenAI's release format", paper.layer)
        if _uses_quick_gelu(loaded):
            return ArticleMatch(EXACT, f"{path.name} builds a QuickGELU RN50x4 (OpenAI's activation)", paper.layer)
    return ArticleMatch(ARCH_ONLY, f"{spec.id} is an RN50x4, but nothing shows these are OpenAI's weights: the "
                        "labels are shown for an architecture match only", paper.layer)


def unit_entry(unit: int) -> dict | None:
    """The article's entry for ``unit`` (label, cited, facet, top_words, link), or None when it cites no such unit."""
    table = cited_units()
    rows = table[table["unit"] == int(unit)]
    return None if rows.empty else rows.iloc[0].to_dict()


def filter_units(table: pd.DataFrame, query: str) -> pd.DataFrame:
    """Rows whose unit number, label, citation, facet or top words contain ``query`` (case-insensitive)."""
    q = " ".join(str(query or "").split()).lower()
    if not q:
        return table
    text = (table["unit"].astype(str) + " " + table["label"].astype(str) + " " + table["cited"].astype(str) + " "
            + table["facet"].astype(str) + " " + table["top_words"].map(lambda w: " ".join(w)))
    return table[text.str.lower().str.contains(q, regex=False)]

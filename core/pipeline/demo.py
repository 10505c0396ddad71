"""The shipped demo corpus (assets/demo_corpus/): public-domain clip art for the ``demo`` model.

``index.csv`` lists every picture (id, path inside ``images.zip``, label, caption, split, source,
licence, continent, holiday, ...); ``images.zip`` holds 96 px RGBA PNGs. Built by
``scripts/build_demo_corpus.py``. Pictures are always returned as RGB composited onto white.
Nothing here imports torch or streamlit.
"""

from __future__ import annotations

import csv
import functools
import io
import logging
import os
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from PIL import Image

from core.config import ASSETS_DIR
from core.errors import CoreError
from core.pipeline.collection import slug

if TYPE_CHECKING:
    from core.model.loading import LoadedModel

logger = logging.getLogger(__name__)

CORPUS_DIR = ASSETS_DIR / "demo_corpus"
INDEX_FILE = CORPUS_DIR / "index.csv"
IMAGES_FILE = CORPUS_DIR / "images.zip"

# The categories the demo model is trained and evaluated on (feasibility study, 16-class recipe).
CATEGORIES: tuple[str, ...] = (
    "bird", "fish", "dog", "cat", "insect", "fruit", "flower", "tree",
    "house", "boat", "flag", "clock", "hat", "smiley", "card", "sign",
)


class CorpusMissingError(CoreError):
    """The shipped demo corpus files are not there."""


class UnknownImageError(CoreError):
    """An image id that is not in the demo corpus."""


def _check_files() -> None:
    for f in (INDEX_FILE, IMAGES_FILE):
        if not f.is_file():
            raise CorpusMissingError(
                f"demo corpus file {f} is missing; restore it from git (`git checkout -- assets/demo_corpus`) "
                "or rebuild it with `python scripts/build_demo_corpus.py` (needs Debian's openclipart-png)")


@functools.lru_cache(maxsize=1)
def _index() -> pd.DataFrame:
    _check_files()
    df = pd.read_csv(INDEX_FILE, dtype=str, keep_default_na=False)
    df["evaluated"] = df["evaluated"] == "1"
    return df


def load_corpus_index() -> pd.DataFrame:
    """The corpus index, one row per picture.

    Returns:
        A DataFrame (a copy) with columns id, path, label, evaluated (bool: label in
        ``CATEGORIES``), object (the file-name phrase), caption, split ("train"/"test"), group
        (variant group; never straddles the split), source (path under Debian's
        /usr/share/openclipart/png), licence, continent (flags), holiday.

    Raises:
        CorpusMissingError: if the shipped files are missing.
    """
    return _index().copy()


@functools.lru_cache(maxsize=1)
def _zip_members() -> dict[str, bytes]:
    _check_files()
    with zipfile.ZipFile(IMAGES_FILE) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _rgba(image_id: str) -> Image.Image:
    df = _index()
    hit = df.index[df["id"] == image_id]
    if len(hit) == 0:
        raise UnknownImageError(f"unknown demo image id {image_id!r}; ids look like "
                                f"{df['id'].iloc[0]!r} (see load_corpus_index())")
    data = _zip_members()[df.at[hit[0], "path"]]
    return Image.open(io.BytesIO(data)).convert("RGBA")


def composite_on_white(img: Image.Image) -> Image.Image:
    """RGBA -> RGB with transparent pixels made white (never black)."""
    img = img.convert("RGBA")
    canvas = Image.new("RGBA", img.size, (255, 255, 255, 255))
    canvas.alpha_composite(img)
    return canvas.convert("RGB")


def load_corpus_image(image_id: str) -> Image.Image:
    """One corpus picture as a 96 px RGB image, alpha composited onto white.

    Raises:
        UnknownImageError: if the id is not in the index.
    """
    return composite_on_white(_rgba(image_id))


def load_corpus_rgba(ids: Sequence[str]):
    """Pictures as a uint8 torch tensor (N, 4, 96, 96) with alpha, for training augmentation."""
    import torch

    arrs = [np.asarray(_rgba(i)) for i in ids]
    return torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).contiguous()


def iter_corpus_images(*, split: str | None = None, evaluated_only: bool = False
                       ) -> Iterator[tuple[pd.Series, Image.Image]]:
    """Yield (index row, RGB image on white) in index order, optionally filtered.

    Args:
        split: ``"train"``, ``"test"`` or None for both.
        evaluated_only: only pictures whose label is in ``CATEGORIES``.
    """
    df = _index()
    if split is not None:
        if split not in ("train", "test"):
            raise CoreError(f"unknown split {split!r}; valid: train, test")
        df = df[df["split"] == split]
    if evaluated_only:
        df = df[df["evaluated"]]
    for _, row in df.iterrows():
        yield row, load_corpus_image(row["id"])


# Debian renderings of drawings whose linked bitmap was missing: a red "x" and the words "Linked Image Not
# Found" (alone, or over a stylised yoga figure). Found as the top examples of a text-reading unit of the
# shipped demo (unit 489). They are not pictures of their label, so the browsable collection leaves them out;
# the shipped corpus files keep them (the build script and the trained weights stay reproducible) and none
# is in an evaluated category's held-out split.
PLACEHOLDER_IDS = frozenset({"bird-b94cd3245c", "bird-51a2be872e", "sport-d66b03003c", "sport-9c1d3cbab8",
                             "sport-b0dfdee00e", "sport-6734dde679", "sport-cd1310b288"})


def materialize_corpus(dest_dir: str | os.PathLike) -> Path:
    """Write the corpus as an image collection the core extraction can read.

    Creates ``dest_dir/images/<label>/<id>.png`` (RGB on white) and ``dest_dir/collection.csv``
    with columns ``path,label,caption,split`` (paths relative to ``dest_dir``), without the broken-link
    placeholder renderings (``PLACEHOLDER_IDS``). Idempotent:
    existing files with the right content are left alone, and the CSV is written last
    (atomically), so an interrupted run is completed by the next call.

    Returns:
        ``dest_dir`` as a Path.
    """
    dest = Path(dest_dir)
    df = _index()
    df = df[~df["id"].isin(PLACEHOLDER_IDS)]
    rows = []
    for _, r in df.iterrows():
        rel = f"images/{r['label'].replace(' ', '_')}/{r['id']}.png"
        target = dest / rel
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".tmp")
            load_corpus_image(r["id"]).save(tmp, format="PNG")
            tmp.replace(target)
        rows.append({"path": rel, "label": r["label"], "caption": r["caption"], "split": r["split"]})
    tmp_csv = dest / "collection.csv.tmp"
    with open(tmp_csv, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["path", "label", "caption", "split"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    tmp_csv.replace(dest / "collection.csv")
    logger.info("demo corpus materialised: %d images in %s", len(rows), dest)
    return dest


def _image_size() -> int:
    import json

    cfg = ASSETS_DIR / "demo" / "config.json"
    return int(json.loads(cfg.read_text())["vision_cfg"]["image_size"]) if cfg.exists() else 64


@functools.lru_cache(maxsize=1)
def page_defaults() -> dict:
    """The pages' measured default pictures and words on the demo model (``assets/demo/defaults.json``, written by
    ``scripts/pick_demo_defaults.py``); {} when the file is missing."""
    import json

    path = ASSETS_DIR / "demo" / "defaults.json"
    return json.loads(path.read_text()) if path.is_file() else {}


ATTACK_SHOWN = 0.3  # attack success from which the note says the demo shows typographic attacks


def capabilities_note(metrics: dict | None = None) -> str:
    """Markdown: what the shipped demo model can and cannot show, with its measured held-out figures.

    Args:
        metrics: the eval-demo output; default ``assets/demo/metrics.json``.
    """
    if metrics is None:
        import json

        path = ASSETS_DIR / "demo" / "metrics.json"
        if not path.exists():
            return "The demo model's figures are missing (`assets/demo/metrics.json`); run `python -m core eval-demo`."
        metrics = json.loads(path.read_text())

    def pct(key: str) -> str:
        return f"{100 * metrics[key]['value']:.0f} %"

    k = metrics.get("n_categories", len(CATEGORIES))
    attack = metrics["typographic_attack"]
    mm, ns = metrics["multimodal_units"], metrics["neuron_search"]
    can = [f"zero-shot classification ({pct('zero_shot_top1')} top-1 on {k} categories, chance {100 / k:.0f} %)",
           f"reading written words ({pct('reading')} in unseen fonts)"]
    cannot = []
    success, chance, neutral = (100 * attack[key] for key in ("value", "chance", "control_flip_rate"))
    if attack["value"] >= ATTACK_SHOWN:
        head = (f"typographic attacks: another category's word on a small sticker sends {success:.0f} % of "
                f"correctly classified pictures to the written class (chance {chance:.1f} %)")
        can.append(head + (f", while a neutral word flips only {neutral:.0f} %" if 3 * neutral <= success else
                           f", though a neutral word flips {neutral:.0f} % too: it trusts any text, not only "
                           "names of things"))
    else:
        cannot.append(f"typographic attacks are at chance ({success:.1f} % success vs {chance:.1f} % chance)")
    cards = metrics.get("multimodal_on_cards")
    loose = (f"; a looser test, one unit ranking a category's held-out pictures and its written word top-3, finds "
             f"{mm['value']} of {mm['of']}")
    mm_name = "multimodal units (one unit ranks a category's pictures and its written word top-3)"
    if cards is not None:  # judged as the card shows a unit: its top examples and its top rastered words
        mm, mm_name = cards, ("multimodal units as their cards show them (at least half of a unit's top 12 examples "
                              "are one category and that category's word is among its top 5 words)")
    for fig, name in ((mm, mm_name),
                      (ns, "zero-shot neuron search (the best-matching unit has the category in its top 3)")):
        text = f"{name}: {fig['value']} of {fig['of']} categories, chance {fig['chance']:g}"
        shown = fig["value"] >= fig["of"] / 3 and fig["value"] >= 2 * fig["chance"]
        text = text if shown or not fig["value"] else text + ", near chance"
        (can if shown else cannot).append(text + (loose if fig is cards else ""))
    return (
        f"**Demo model**: a tiny CLIP ({_image_size()} px ModifiedResNet) trained offline by this project on "
        "clip art.\n\n"
        f"*Can show*: {'; '.join(can)}; and every tool end to end.\n\n"
        f"*Cannot show*: {'; '.join(cannot) or 'the rest of the article at real CLIP scale'}.\n\n"
        "For those, load real weights: type e.g. `RN50x4@/path/to/RN50x4.pt` (OpenAI's file) into the model picker."
    )


# ---------------------------------------------------------------- the demo collection's index --------------------
DEMO_NAME = "demo"


def demo_index_dir(model_id: str = "demo", artifacts_dir: Path | None = None) -> Path:
    """Where the demo corpus index of ``model_id`` lives: ``<artifacts>/indexes/demo[--<model>]``."""
    from core.config import get_settings

    base = Path(artifacts_dir) if artifacts_dir else get_settings().artifacts_dir
    name = DEMO_NAME if model_id == "demo" else f"{DEMO_NAME}--{slug(model_id)}"
    return base / "indexes" / name


def ensure_demo_index(progress: Callable[[int, int], None] | None = None, *, loaded: LoadedModel | None = None,
                      artifacts_dir: Path | None = None, materialize: Callable[[Path], Path] | None = None,
                      batch_size: int = 64, workers: int | None = None, lock_timeout: float = 3600.0):
    """Materialise the demo corpus and index it on first use; later calls just open it.

    Safe when several sessions call it at once: a file lock serialises the work, and the
    extraction itself is resumable, so an interrupted first build is completed by the next call.

    Args:
        progress: ``progress(done, total)`` during extraction (not called when the index exists).
        loaded: the model to index with (default ``load_model("demo")``).
        artifacts_dir: base directory (default: settings' artifacts dir).
        materialize: writes the corpus into a folder and returns it (default
            ``core.pipeline.demo.materialize_corpus``); must produce ``collection.csv``.
        batch_size, workers: extraction parameters.
        lock_timeout: seconds to wait for another session's build.

    Returns:
        The opened ``core.pipeline.store.Artifact`` (its FAISS index is built beside it).
    """
    from filelock import FileLock, Timeout

    from core.errors import ArtifactError, ArtifactMismatchError
    from core.pipeline.extract import run_extraction
    from core.pipeline.index import ensure_index, load_index
    from core.pipeline.store import open_artifact

    if loaded is None:
        from core.model.loading import load_model

        loaded = load_model("demo")
    out = demo_index_dir(loaded.id, artifacts_dir)
    try:
        art = open_artifact(out, expect=loaded)
        load_index(art)
        return art
    except (ArtifactError, ArtifactMismatchError):
        pass  # not built yet, unfinished or stale: (re)build it under the lock
    base = out.parent.parent
    corpus_dir = base / "collections" / DEMO_NAME
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(out) + ".lock", timeout=lock_timeout):
            stale = False
            try:  # another session may have finished the build while we waited for the lock
                art = open_artifact(out, expect=loaded)
                ensure_index(art)
                return art
            except ArtifactMismatchError:
                stale = True  # our managed cache, built by an older version of the model: rebuild it
            except ArtifactError:
                pass
            if materialize is None:
                materialize = materialize_corpus
            corpus = Path(materialize(corpus_dir))
            art = run_extraction(loaded, corpus / "collection.csv", out, batch_size=batch_size, workers=workers,
                                 progress=progress, overwrite=stale)
            ensure_index(art)
            return art
    except Timeout as err:
        raise CoreError(f"Another session is still building {out}; try again in a minute.") from err

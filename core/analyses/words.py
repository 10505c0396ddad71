"""Top rastered words: the English words that most (and least) activate a neuron when drawn as images.

Paper-methods §5.2: every word of a ~10,000-word vocabulary (``assets/vocab/words_en.txt``, 12,000
frequency-ordered words derived from wordfreq; see its SOURCE.md) is drawn black on white in fixed
fonts and sizes (``core.analyses.raster.render_word``, deterministic); a unit's score for a word is its
spatial max, averaged over the renderings. Activations are cached per model fingerprint and layer
under ``<artifacts>/words/`` in resumable chunks. The image-based word embedding is a word's
activation vector minus the vocabulary mean. No streamlit.
"""
from __future__ import annotations

import functools
import hashlib
import io
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from PIL import Image

from core.config import ASSETS_DIR, get_settings
from core.errors import BadInputError, Cancelled, CoreError
from core.model.hooks import NeuronRef, article_layer, capture, resolve_layer, resolve_neuron

if TYPE_CHECKING:
    from core.model.loading import LoadedModel

logger = logging.getLogger(__name__)

VOCAB_FILE = ASSETS_DIR / "vocab" / "words_en.txt"
# (font, scale): the word fitted to ``scale`` of the image side, centred on white.
VARIANTS: tuple[tuple[str, float], ...] = (("DejaVuSans-Bold", 1.0), ("DejaVuSerif", 0.7))
WORDS_VERSION = 1
CHUNK = 1024

Progress = Callable[[int, int], None]


def _vocabulary() -> tuple[str, ...]:
    """The vocabulary in use: the shipped list, cut to its ``vocab_size`` most frequent words when that is set
    (``CLIP_EXPLORER_VOCAB_SIZE``)."""
    return _read_vocabulary(get_settings().vocab_size)


@functools.lru_cache(maxsize=4)
def _read_vocabulary(size: int | None) -> tuple[str, ...]:
    if not VOCAB_FILE.is_file():
        raise CoreError(f"The word list {VOCAB_FILE} is missing; restore it from git "
                        "(`git checkout -- assets/vocab/words_en.txt`).")
    words = tuple(w for w in (w.strip() for w in VOCAB_FILE.read_text(encoding="utf-8").splitlines()) if w)
    return words[:size] if size else words


def load_vocabulary() -> list[str]:
    """The shipped vocabulary, most frequent word first (offline; no downloads)."""
    return list(_vocabulary())


def raster_word(word: str, size: int, *, font: str = VARIANTS[0][0], scale: float = 1.0) -> Image.Image:
    """A word drawn black on white, fitted to ``scale`` of a ``size`` px square; deterministic."""
    from core.analyses.raster import render_word

    inner = max(8, round(size * scale))
    img = render_word(word, size=inner, font=font)
    if inner == size:
        return img
    canvas = Image.new("RGB", (size, size), (255, 255, 255))
    canvas.paste(img, ((size - inner) // 2, (size - inner) // 2))
    return canvas


def _pixels(loaded: LoadedModel, images: Sequence[Image.Image]) -> torch.Tensor:
    """Square RGB images already at the model's size -> normalised (B, 3, S, S)."""
    from core.featurevis.render import normalization

    arr = np.stack([np.asarray(im, dtype=np.uint8) for im in images])  # (B, S, S, 3)
    x = torch.from_numpy(arr).permute(0, 3, 1, 2).float().div_(255.0)
    mean, std = normalization(loaded)
    return (x.to(loaded.device) - mean) / std


@torch.inference_mode()
def score_words(loaded: LoadedModel, words: Sequence[str], layer: str, *, batch_size: int = 32) -> np.ndarray:
    """Activations (N, C) float32: per unit, spatial max, averaged over the rendering variants.

    Batches of 32 in channels-last layout: on a 2-core CPU the demo's tower runs 2.5-3x faster that way than
    in batches of 256 in the default layout (same values to float rounding; ``benchmarks/bench_words.py``)."""
    size = loaded.image_size
    out = np.zeros((len(words), resolve_layer(loaded, layer).units or 0), np.float32)
    jobs = [(i, font, scale) for i in range(len(words)) for font, scale in VARIANTS]
    acc = None
    for start in range(0, len(jobs), batch_size):
        part = jobs[start:start + batch_size]
        pixels = _pixels(loaded, [raster_word(words[i], size, font=f, scale=s) for i, f, s in part])
        pixels = pixels.contiguous(memory_format=torch.channels_last)
        with capture(loaded, [layer]) as acts:
            loaded.model.encode_image(pixels)
        a = acts[layer]
        mx = (a.flatten(2).amax(dim=2) if a.dim() == 4 else a.amax(dim=1)).float().cpu().numpy()  # (B, C)
        if acc is None:
            acc = np.zeros((len(words), mx.shape[1]), np.float32)
        np.add.at(acc, [i for i, _, _ in part], mx)
    return (acc / len(VARIANTS)) if acc is not None else out


@dataclass(frozen=True)
class WordActivations:
    """Activations of the whole vocabulary at one layer.

    Attributes:
        words: the vocabulary (N,).
        layer: layer id.
        acts: (N, C) float32, spatial max averaged over renderings.
    """

    words: tuple[str, ...]
    layer: str
    acts: np.ndarray

    @functools.cached_property
    def mean(self) -> np.ndarray:
        return self.acts.mean(axis=0)

    @functools.cached_property
    def std(self) -> np.ndarray:
        return self.acts.std(axis=0) + 1e-8

    @functools.cached_property
    def embedding(self) -> np.ndarray:
        """Image-based word embedding: activations minus the vocabulary mean, L2-normalised rows."""
        e = self.acts - self.mean
        return e / (np.linalg.norm(e, axis=1, keepdims=True) + 1e-8)


@functools.lru_cache(maxsize=8)
def _words_tag(words: tuple[str, ...], version, variants) -> str:
    ident = json.dumps({"v": version, "variants": variants, "words": list(words)}).encode()
    return hashlib.sha256(ident).hexdigest()[:12]


def _cache_dir(loaded: LoadedModel, layer: str, words: Sequence[str]) -> Path:
    tag = _words_tag(tuple(words), WORDS_VERSION, VARIANTS)  # hashing 12,000 words on every card render cost milliseconds
    safe = layer.replace("/", "_").replace("@", "-at-")
    return get_settings().artifacts_dir / "words" / loaded.fingerprint / f"{safe}-{tag}"


class ScoringCancelled(Cancelled):
    """The user cancelled word scoring; finished chunks are kept."""


def word_activations(loaded: LoadedModel, layer: str | None = None, *, words: Sequence[str] | None = None,
                     progress: Progress | None = None,
                     cancelled: Callable[[], bool] | None = None) -> WordActivations:
    """Activations of every vocabulary word at ``layer`` (default: the article's layer), cached.

    Work is saved in chunks of ``CHUNK`` words, so an interrupted run resumes where it stopped.

    Args:
        loaded: a ``LoadedModel``.
        layer: layer id (see ``core.model.hooks.list_layers``).
        words: another word list (default: the shipped vocabulary).
        progress: called with (words done, total).
        cancelled: asked before each chunk; when it turns true the run stops (finished chunks are kept).

    Raises:
        ScoringCancelled: ``cancelled()`` turned true.
    """
    from core.files import atomic_write_bytes

    layer = layer or article_layer(loaded)
    resolve_layer(loaded, layer)
    words = tuple(words) if words is not None else _vocabulary()
    if not words:
        raise BadInputError("Empty word list.")
    folder = _cache_dir(loaded, layer, words)
    final = folder / "acts.npy"
    if final.is_file():
        return WordActivations(words, layer, np.load(final))
    parts = []
    for start in range(0, len(words), CHUNK):
        if cancelled is not None and cancelled():
            raise ScoringCancelled("Word scoring cancelled; the words scored so far are kept and the next run resumes.")
        chunk = folder / f"chunk-{start:06d}.npy"
        if chunk.is_file():
            parts.append(np.load(chunk))
        else:
            parts.append(score_words(loaded, words[start:start + CHUNK], layer))
            buf = io.BytesIO()
            np.save(buf, parts[-1])
            atomic_write_bytes(chunk, buf.getvalue())
        if progress:
            progress(min(start + CHUNK, len(words)), len(words))
    acts = np.concatenate(parts)
    buf = io.BytesIO()
    np.save(buf, acts)
    atomic_write_bytes(final, buf.getvalue())
    for chunk in folder.glob("chunk-*.npy"):
        chunk.unlink(missing_ok=True)
    (folder / "manifest.json").write_text(json.dumps({"model": loaded.id, "fingerprint": loaded.fingerprint,
                                                      "layer": layer, "words": len(words), "variants": VARIANTS}))
    return WordActivations(words, layer, acts)


def vocabulary_tag() -> str:
    """A short tag of the vocabulary in use (its words, the rendering version and variants): what names its cache."""
    return _words_tag(_vocabulary(), WORDS_VERSION, VARIANTS)


def is_scored(loaded: LoadedModel, layer: str | None = None) -> bool:
    """Whether the shipped vocabulary is already scored (on disk) for this model and layer."""
    return (_cache_dir(loaded, layer or article_layer(loaded), _vocabulary()) / "acts.npy").is_file()


def cached_word_activations(loaded: LoadedModel, layer: str | None = None) -> WordActivations | None:
    """The vocabulary's activations if already scored for this model and layer, else None (never scores)."""
    layer = layer or article_layer(loaded)
    words = _vocabulary()
    final = _cache_dir(loaded, layer, words) / "acts.npy"
    return WordActivations(words, layer, np.load(final)) if final.is_file() else None


def _ranked(table: WordActivations, unit: int, order: np.ndarray) -> pd.DataFrame:
    a = table.acts[order, unit]
    return pd.DataFrame({"rank": np.arange(1, len(order) + 1), "word": [table.words[i] for i in order],
                         "activation": a, "score": (a - table.mean[unit]) / table.std[unit]})


def top_words(table: WordActivations, unit: int, k: int = 20, *, bottom: bool = False) -> pd.DataFrame:
    """The ``k`` words with the highest (or, with ``bottom``, lowest) activation of ``unit``.

    Returns:
        DataFrame[rank, word, activation, score]; ``score`` is in standard deviations from the
        vocabulary mean.
    """
    if not 0 <= unit < table.acts.shape[1]:
        raise BadInputError(f"Unit {unit} is out of range: valid units are 0..{table.acts.shape[1] - 1}.")
    k = max(1, min(int(k), len(table.words)))
    col = table.acts[:, unit]
    idx = np.argpartition(-col if not bottom else col, k - 1)[:k]
    idx = idx[np.argsort(-col[idx] if not bottom else col[idx], kind="stable")]
    return _ranked(table, unit, idx)


def neuron_words(loaded: LoadedModel, neuron: str | NeuronRef, k: int = 20, *, progress: Progress | None = None
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(top, bottom) word tables for a neuron ``layer:unit`` (vocabulary scored on first use)."""
    ref = resolve_neuron(loaded, neuron)
    table = word_activations(loaded, ref.layer, progress=progress)
    return top_words(table, ref.unit, k), top_words(table, ref.unit, k, bottom=True)


def nearest_words(loaded: LoadedModel, word: str, k: int = 10, *, layer: str | None = None,
                  progress: Progress | None = None) -> pd.DataFrame:
    """Words nearest to ``word`` in the image-based word embedding (cosine similarity).

    A word outside the vocabulary is drawn and scored on the fly.

    Returns:
        DataFrame[rank, word, similarity], the query word itself excluded.
    """
    word = (word or "").strip()
    if not word:
        raise BadInputError("Empty word: type a word to find its neighbours.")
    table = word_activations(loaded, layer, progress=progress)
    try:
        q = table.embedding[table.words.index(word)]
    except ValueError:
        v = score_words(loaded, [word], table.layer)[0] - table.mean
        q = v / (np.linalg.norm(v) + 1e-8)
    sims = table.embedding @ q
    order = [i for i in np.argsort(-sims, kind="stable") if table.words[i] != word][:k]
    return pd.DataFrame({"rank": np.arange(1, len(order) + 1), "word": [table.words[i] for i in order],
                         "similarity": sims[order]})

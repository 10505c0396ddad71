"""Search: neuron directions in the joint space, text/image -> neurons, text/image -> images.

Neuron directions (paper-methods §5.1): for ResNet CLIPs the attention pool, linearised, maps the
last block's channels to the embedding by ``W = c_proj.weight @ v_proj.weight`` (D x C); the dynamic
weight of unit n for a text t is ``v(t)_n = (Wᵀ t̂)_n`` ("zero-shot neuron search"). Results are
DataFrames; nothing here imports streamlit.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from core.errors import BadInputError, CoreError
from core.model import devices
from core.model.embed import encode_text, forward_precision
from core.model.hooks import article_layer, capture, reduce_positions, resolve_layer
from core.pipeline.images import open_image
from core.pipeline.store import check_model

if TYPE_CHECKING:
    from core.model.loading import LoadedModel
    from core.pipeline.store import Artifact

logger = logging.getLogger(__name__)

_CACHE: OrderedDict[tuple, torch.Tensor] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 8


class DirectionUnavailableError(CoreError):
    """The layer has no (linearised) direction in the joint embedding space."""


def _direction_layers(loaded: LoadedModel) -> list[str]:
    visual = loaded.model.visual
    if loaded.family == "resnet":
        last = len(visual.layer4) - 1
        return [f"visual.layer4.{last}.act3@in", f"visual.layer4.{last}", "visual.layer4"]
    if loaded.family == "vit":
        return [f"visual.transformer.resblocks.{k}.mlp.gelu" for k in range(len(visual.transformer.resblocks))]
    return []


def _raw_directions(loaded: LoadedModel, layer: str) -> torch.Tensor:
    visual = loaded.model.visual
    if layer not in _direction_layers(loaded):
        raise DirectionUnavailableError(
            f"Neuron directions are defined only for the layers feeding the embedding; {layer} is not one. "
            f"Available: {', '.join(_direction_layers(loaded)) or 'none for this model family'}.")
    with torch.inference_mode():
        if loaded.family == "resnet":
            pool = visual.attnpool
            w = pool.c_proj.weight @ pool.v_proj.weight  # (D, C)
            return w.T.float().cpu().contiguous()  # (C, D)
        block = int(layer.split(".")[3])
        c_proj = visual.transformer.resblocks[block].mlp.c_proj.weight  # (width, hidden)
        ln_w = visual.ln_post.weight if visual.ln_post.weight is not None else torch.ones(c_proj.shape[0])
        w = (ln_w[:, None] * c_proj).T @ visual.proj  # (hidden, D)
        return w.float().cpu().contiguous()


def neuron_directions(loaded: LoadedModel, layer: str | None = None, *, normalize: bool = True) -> torch.Tensor:
    """Each unit's direction in the joint image-text embedding space.

    ResNet (attention pool): the columns of ``attnpool.c_proj.weight @ attnpool.v_proj.weight``; exact for the
    value path of the pool, ignoring the softmax attention weights (treated as averaging), biases and the
    positional embedding, which add a constant offset. Defined for the layer that feeds the pool (the article's
    ``...act3@in`` and the block output, which carry the same channels).

    ViT MLP unit u of block k: the *direct path* of its output weights to the embedding,
    ``(ln_post.weight ⊙ mlp.c_proj.weight[:, u]) @ visual.proj``. This approximation ignores every later block,
    the layer norms' centring and per-token scaling, and assumes the unit fires at the pooled (class) token.

    Args:
        loaded: a ``LoadedModel``.
        layer: layer id (default: the article's layer).
        normalize: L2-normalise each direction (cosine geometry); ``False`` keeps the raw weights (the
            bilinear ``v(t) = Wᵀ t̂``).

    Returns:
        (C, D) float32 tensor on CPU (cached per model fingerprint and layer; do not modify).

    Raises:
        DirectionUnavailableError: the layer has no direction; ``LayerNotFoundError``: unknown layer.
    """
    layer = resolve_layer(loaded, layer or article_layer(loaded)).id
    key = (loaded.fingerprint, layer, normalize)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    w = _raw_directions(loaded, layer)
    if normalize:
        w = F.normalize(w, dim=1)
    with _CACHE_LOCK:
        _CACHE[key] = w
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return w


MAX_QUERY_CHARS = 10_000  # a text query longer than this is a mistake (a pasted file), not a query


@dataclass(frozen=True)
class QueryCheck:
    """What the model will read of a text query (``check_query``).

    Attributes:
        text: the query, stripped.
        tokens: its length in tokens, start and end tokens included.
        context: the model's context length (tokens it reads; the rest is cut off).
    """

    text: str
    tokens: int
    context: int

    @property
    def truncated(self) -> bool:
        """The model reads only the first ``context`` tokens: the end of the query is ignored."""
        return self.tokens > self.context

    def warning(self) -> str | None:
        """A one-line notice for a truncated query (for the CLI and the dashboard), else None."""
        if not self.truncated:
            return None
        return (f"the query is {self.tokens} tokens long; the model reads only the first {self.context} (about "
                f"{self._kept_words()} words), the rest is ignored.")

    def _kept_words(self) -> int:
        words = self.text.split()
        return max(1, round(len(words) * self.context / max(self.tokens, 1)))


def check_query(loaded: LoadedModel, text: str, *, max_chars: int = MAX_QUERY_CHARS) -> QueryCheck:
    """Validate a text query and tell whether the model will cut it (CLIP reads a fixed number of tokens: 77).

    Raises:
        BadInputError: an empty query, or one longer than ``max_chars`` characters.
    """
    text = (text or "").strip()
    if not text:
        raise BadInputError("Empty text query: type at least one word.")
    if len(text) > max_chars:
        raise BadInputError(f"The text query is {len(text):,} characters long; at most {max_chars:,} are accepted "
                            "(the model reads only its first ~77 tokens, a few dozen words).")
    tok = loaded.tokenizer
    context = int(getattr(tok, "context_length", None) or loaded.config.get("text_cfg", {}).get("context_length", 77))
    if callable(getattr(tok, "encode", None)):
        try:
            n = len(tok.encode(text)) + 2  # + start and end tokens, as the tokenizer adds them
        except Exception:  # an HF tokenizer with another encode signature: count from the padded ids below
            n = None
    else:
        n = None
    if n is None:
        ids = tok([text])[0]
        n = int((ids != 0).sum()) + (1 if int(ids[-1]) != 0 else 0)  # a full row: assume it was cut
    return QueryCheck(text, n, context)


def _check_top(top: int, units: int) -> int:
    if int(top) < 1:
        raise BadInputError(f"top must be >= 1 (got {top}).")
    return min(int(top), units)


def _neuron_ids(layer: str, units: np.ndarray) -> list[str]:
    return [f"{layer}:{int(u)}" for u in units]


def text_to_neurons(loaded: LoadedModel, text: str, layer: str | None = None, top: int = 10,
                    unit_std: np.ndarray | None = None, *, most_negative: bool = False,
                    exact: bool = False) -> pd.DataFrame:
    """Zero-shot neuron search: the units whose direction best matches a text.

    Args:
        loaded: a ``LoadedModel``.
        text: the query, e.g. ``"spider"``.
        layer: layer id (default: the article's layer).
        top: number of units returned.
        unit_std: (C,) activation std of each unit over a collection (e.g.
            ``artifact.unit_stats("mean")[1]``); scores become ``v(t)_n * σ_n`` (units differ in scale).
        most_negative: rank the most inhibited units instead.
        exact: encode the text in float32 even where an int8 copy of a big CPU text tower exists
            (``core.model.fast_text``: RN50x4 queries ~4x faster, cosine >= 0.998 to float32).

    Returns:
        DataFrame with columns ``rank, neuron, unit, score, weight, cosine`` (``weight`` = ``v(t)_n``,
        ``cosine`` = cosine of the unit's direction and the text), best first.

    Raises:
        BadInputError: empty or over-long text (``check_query``), bad ``top`` or ``unit_std`` of the wrong length.
    """
    text = check_query(loaded, text).text
    return neurons_for_embedding(loaded, encode_text(loaded, [text], fast=not exact)[0], layer, top, unit_std,
                                 most_negative=most_negative)


def neurons_for_embedding(loaded: LoadedModel, query, layer: str | None = None, top: int = 10,
                          unit_std: np.ndarray | None = None, *, most_negative: bool = False) -> pd.DataFrame:
    """``text_to_neurons`` for a query already embedded: ``query`` is its (D,) L2-normalised text embedding
    (``core.model.embed.encode_text``), so one encoding can serve the neuron ranking and the image kNN
    (``images_for_embedding``). Same arguments and result otherwise."""
    layer = resolve_layer(loaded, layer or article_layer(loaded)).id
    t = torch.as_tensor(np.asarray(query, dtype=np.float32).reshape(-1))  # (D,)
    raw = neuron_directions(loaded, layer, normalize=False)  # (C, D)
    weight = (raw @ t).numpy()  # (C,)
    cosine = (neuron_directions(loaded, layer) @ t).numpy()
    score = weight
    if unit_std is not None:
        std = np.asarray(unit_std, dtype=np.float32).reshape(-1)
        if std.shape[0] != weight.shape[0]:
            raise BadInputError(f"unit_std has {std.shape[0]} entries; layer {layer} has {weight.shape[0]} units.")
        score = weight * std
    k = _check_top(top, len(score))
    order = np.argsort(score if most_negative else -score, kind="stable")[:k]
    return pd.DataFrame({"rank": np.arange(1, k + 1), "neuron": _neuron_ids(layer, order), "unit": order,
                         "score": score[order], "weight": weight[order], "cosine": cosine[order]})


def _as_image(image):
    if isinstance(image, (str, Path, bytes)):
        return open_image(image)
    if hasattr(image, "mode") and hasattr(image, "size"):
        return image
    raise BadInputError("Expected an image: a PIL image, a file path or the bytes of an image file.")


def image_to_neurons(loaded: LoadedModel, image, layer: str | None = None, top: int = 10,
                     unit_std: np.ndarray | None = None) -> pd.DataFrame:
    """The units that fire most on one image (spatial max at the layer).

    Args:
        loaded: a ``LoadedModel``.
        image: a PIL image, a path or image bytes (opened upright, transparency on white).
        layer: layer id (default: the article's layer).
        top: number of units returned.
        unit_std: (C,) std of each unit's spatial max over a collection (``artifact.unit_std``); units are then
            ranked by ``activation / σ`` (standard deviations from zero, as the article's plots).

    Returns:
        DataFrame ``rank, neuron, unit, activation, z, position, y, x, mean`` best first (``z`` is NaN without
        ``unit_std``; ``position`` is the flat argmax, ``y``/``x`` its grid cell, or the token index for ViTs).
    """
    info = resolve_layer(loaded, layer or article_layer(loaded))
    pixels = loaded.preprocess(_as_image(image)).unsqueeze(0)  # (1, 3, S, S)
    with torch.inference_mode(), capture(loaded, [info.id]) as acts, \
            devices.autocast(loaded.device, forward_precision(loaded)):
        loaded.model.encode_image(pixels.to(loaded.device))
    act = acts[info.id].float()
    mx, arg, mean = (t[0].cpu().numpy() for t in reduce_positions(act))  # each (C,)
    z = np.full_like(mx, np.nan)
    if unit_std is not None:
        std = np.asarray(unit_std, dtype=np.float32).reshape(-1)
        if std.shape[0] != mx.shape[0]:
            raise BadInputError(f"unit_std has {std.shape[0]} entries; layer {info.id} has {mx.shape[0]} units.")
        z = mx / np.maximum(std, 1e-12)
    key = mx if unit_std is None else z
    k = _check_top(top, len(mx))
    order = np.argsort(-key, kind="stable")[:k]
    width = act.shape[3] if act.dim() == 4 else 1
    pos = arg[order].astype(np.int64)
    return pd.DataFrame({"rank": np.arange(1, k + 1), "neuron": _neuron_ids(info.id, order), "unit": order,
                         "activation": mx[order], "z": z[order], "position": pos,
                         "y": pos // width, "x": pos % width, "mean": mean[order]})


def query_images(loaded: LoadedModel, artifact: Artifact, index, text: str | None = None, image=None, top: int = 10, *,
                 exact: bool = False) -> pd.DataFrame:
    """Nearest images of a collection to a text or an image (kNN over the embedding index).

    Args:
        loaded: the ``LoadedModel`` the artifact was made with.
        artifact: a ``core.pipeline.store.Artifact``; index: its ``core.pipeline.index.EmbeddingIndex``.
        text, image: exactly one query.
        top: number of images.
        exact: float32 text encoding even where ``core.model.fast_text`` has an int8 copy (as ``text_to_neurons``).

    Returns:
        DataFrame ``rank, row, key, label, score, path`` best first (``score`` = cosine similarity).

    Raises:
        BadInputError: not exactly one query; ``ArtifactMismatchError``: artifact from another model.
    """
    if (text is None) == (image is None):
        raise BadInputError("Give exactly one query: a text or an image.")
    if text is not None:
        q = encode_text(loaded, [check_query(loaded, text).text], fast=not exact).numpy()
    else:
        pixels = loaded.preprocess(_as_image(image)).unsqueeze(0)
        with torch.inference_mode(), devices.autocast(loaded.device, forward_precision(loaded)):
            q = F.normalize(loaded.model.encode_image(pixels.to(loaded.device)).float(), dim=-1).cpu().numpy()
    return images_for_embedding(loaded, artifact, index, q, top)


def images_for_embedding(loaded: LoadedModel, artifact: Artifact, index, query, top: int = 10) -> pd.DataFrame:
    """``query_images`` for a query already embedded: ``query`` is its (D,) or (1, D) L2-normalised embedding in
    the joint space. Same checks and result otherwise."""
    check_model(artifact.manifest, loaded, artifact.path)
    if index.rows != artifact.rows:
        raise BadInputError(f"The index has {index.rows} rows but the artifact {artifact.rows}; rebuild the index.")
    q = np.asarray(query, dtype=np.float32).reshape(1, -1)
    scores, rows = index.search(q, _check_top(top, index.rows))
    rows, scores = rows[0], scores[0]
    keep = rows >= 0
    rows, scores = rows[keep], scores[keep]
    labels = artifact.labels
    return pd.DataFrame({"rank": np.arange(1, len(rows) + 1), "row": rows,
                         "key": [artifact.keys[r] for r in rows],
                         "label": [labels[r] if labels else "" for r in rows], "score": scores,
                         "path": [str(artifact.image_path(r)) for r in rows]})

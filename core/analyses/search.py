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
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from core.errors import BadInputError, CoreError
from core.model.embed import encode_text
from core.model.hooks import article_layer, capture, reduce_positions, resolve_layer
from core.pipeline.images import open_image
from core.pipeline.store import check_model

logger = logging.getLogger(__name__)

_CACHE: OrderedDict[tuple, torch.Tensor] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 8


class DirectionUnavailableError(CoreError):
    """The layer has no (linearised) direction in the joint embedding space."""


def query_tokens_fit(loaded, text: str) -> tuple[int, int]:
    """(tokens ``text`` takes with its start and end tokens, the text tower's context length). When the first is
    larger, the tokenizer cuts the text: the model reads only its first ``context - 2`` tokens. (0, context) when
    the tokenizer cannot count (it has no ``encode``)."""
    tok = loaded.tokenizer
    context = int(getattr(tok, "context_length", 0) or 77)
    encode = getattr(tok, "encode", None)
    if encode is None:
        return 0, context
    try:
        return len(encode(text)) + 2, context
    except Exception:  # noqa: BLE001 - a tokenizer that cannot count this text: no verdict, not an error
        logger.debug("could not count the tokens of a query", exc_info=True)
        return 0, context


def _direction_layers(loaded) -> list[str]:
    visual = loaded.model.visual
    if loaded.family == "resnet":
        last = len(visual.layer4) - 1
        return [f"visual.layer4.{last}.act3@in", f"visual.layer4.{last}", "visual.layer4"]
    if loaded.family == "vit":
        return [f"visual.transformer.resblocks.{k}.mlp.gelu" for k in range(len(visual.transformer.resblocks))]
    return []


def _raw_directions(loaded, layer: str) -> torch.Tensor:
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


def neuron_directions(loaded, layer: str | None = None, *, normalize: bool = True) -> torch.Tensor:
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


def _check_top(top: int, units: int) -> int:
    if int(top) < 1:
        raise BadInputError(f"top must be >= 1 (got {top}).")
    return min(int(top), units)


def _neuron_ids(layer: str, units: np.ndarray) -> list[str]:
    return [f"{layer}:{int(u)}" for u in units]


def text_to_neurons(loaded, text: str, layer: str | None = None, top: int = 10,
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
        BadInputError: empty text, bad ``top`` or ``unit_std`` of the wrong length.
    """
    return neurons_for_embedding(loaded, encode_text(loaded, [text], fast=not exact)[0], layer, top, unit_std,
                                 most_negative=most_negative)


def neurons_for_embedding(loaded, query, layer: str | None = None, top: int = 10,
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


def image_to_neurons(loaded, image, layer: str | None = None, top: int = 10,
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
    with torch.inference_mode(), capture(loaded, [info.id]) as acts:
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


def query_images(loaded, artifact, index, text: str | None = None, image=None, top: int = 10, *,
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
        q = encode_text(loaded, [text], fast=not exact).numpy()
    else:
        pixels = loaded.preprocess(_as_image(image)).unsqueeze(0)
        with torch.inference_mode():
            q = F.normalize(loaded.model.encode_image(pixels.to(loaded.device)).float(), dim=-1).cpu().numpy()
    return images_for_embedding(loaded, artifact, index, q, top)


def images_for_embedding(loaded, artifact, index, query, top: int = 10) -> pd.DataFrame:
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

"""Text and image embeddings in the joint space (L2-normalised), batched and fast on CPU.

Text is encoded at the context length of the longest prompt instead of the full 77 tokens
(identical embeddings, ~8x faster on CPU; see notes/install.md). On CUDA the towers run under mixed precision
by default (``forward_precision``: the settings' ``CLIP_EXPLORER_PRECISION``, auto = float16 on CUDA, float32
elsewhere); results are float32 either way.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from core.errors import BadInputError
from core.model import devices

if TYPE_CHECKING:
    from core.model.loading import LoadedModel

logger = logging.getLogger(__name__)


def forward_precision(loaded: LoadedModel, precision: str | None = None) -> str:
    """The resolved precision (fp32/fp16/bf16) of an encoding on ``loaded``'s device: ``precision`` if given,
    else the settings' (``core.model.devices.resolve_precision``)."""
    if precision is None:
        from core.config import get_settings

        precision = get_settings().precision
    return devices.resolve_precision(precision, loaded.device)


def tokenize(loaded: LoadedModel, texts: Sequence[str]) -> torch.Tensor:
    """Tokenize and trim to the longest prompt: (N, L) with L <= context length."""
    tokens = loaded.tokenizer(list(texts))  # (N, ctx)
    length = int((tokens != 0).sum(dim=1).max().item()) if tokens.numel() else 1
    return tokens[:, : max(length, 1)]


@torch.inference_mode()
def encode_text(loaded: LoadedModel, texts: Sequence[str], *, batch_size: int = 256, fast: bool = False,
                precision: str | None = None) -> torch.Tensor:
    """Embed texts: (N, D) L2-normalised, float32, on CPU.

    ``fast=True`` uses the cached int8 copy of a big CPU text tower (``core.model.fast_text``: cosine >= 0.999 to
    float32, 3-4x faster for RN50x4) when there is one; for interactive queries, never for stored results.
    ``precision``: see ``forward_precision`` (default: the settings'; float32 on CPU).

    Raises:
        BadInputError: no texts, or an empty string among them.
    """
    texts = [t.strip() for t in texts]
    if not texts or any(not t for t in texts):
        raise BadInputError("Empty text query: type at least one word.")
    model = loaded.model
    amp = devices.autocast(loaded.device, forward_precision(loaded, precision))
    if not hasattr(model, "positional_embedding") or getattr(model, "text_pool_type", "argmax") != "argmax":
        with amp:
            return torch.cat([F.normalize(model.encode_text(loaded.tokenizer(texts[i:i + batch_size]).to(loaded.device)).float(), dim=-1).cpu()
                              for i in range(0, len(texts), batch_size)])
    if fast:
        from core.model import fast_text

        tower = fast_text.text_tower(loaded)  # CPU only: it runs in its own int8, never under autocast
        if tower is not None:
            model, amp = tower, devices.autocast("cpu", "fp32")
    out = []
    with amp:
        for i in range(0, len(texts), batch_size):
            tokens = tokenize(loaded, texts[i:i + batch_size]).to(loaded.device)  # (B, L)
            out.append(_encode_trimmed(model, tokens).cpu())
    return torch.cat(out)


def _encode_trimmed(model, text: torch.Tensor) -> torch.Tensor:
    from open_clip.transformer import text_global_pool

    length = text.shape[1]
    cast = model.transformer.get_cast_dtype()
    x = model.token_embedding(text).to(cast)  # (B, L, W)
    x = x + model.positional_embedding[:length].to(cast)
    mask = model.attn_mask[:length, :length] if model.attn_mask is not None else None
    x = model.transformer(x, attn_mask=mask)
    x = model.ln_final(x)
    x = text_global_pool(x, text, model.text_pool_type, eos_token_id=getattr(model, "text_eos_id", None))
    if model.text_projection is not None:
        x = model.text_projection(x) if isinstance(model.text_projection, torch.nn.Linear) else x @ model.text_projection
    return F.normalize(x.float(), dim=-1)  # (B, D)


@torch.inference_mode()
def encode_images(loaded: LoadedModel, pixels: torch.Tensor, *, precision: str | None = None) -> torch.Tensor:
    """Embed preprocessed images (B, 3, S, S): (B, D) L2-normalised float32 on CPU (``precision``: see
    ``forward_precision``)."""
    with devices.autocast(loaded.device, forward_precision(loaded, precision)):
        feats = loaded.model.encode_image(pixels.to(loaded.device))
    return F.normalize(feats.float(), dim=-1).cpu()


def preprocess_batch(loaded: LoadedModel, images) -> torch.Tensor:
    """PIL images -> (B, 3, S, S) tensor with the model's own preprocessing."""
    return torch.stack([loaded.preprocess(im) for im in images])

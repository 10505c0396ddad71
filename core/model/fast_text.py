"""An int8 copy of a CLIP text tower for interactive queries on CPU.

A one-word query through RN50x4's 12-layer, width-640 text transformer is a chain of (L x 640) x (640 x N)
matrix products with L ~ 7 tokens: it reads 236 MB of float32 weights per query and is bound by memory
bandwidth. PyTorch's dynamic int8 quantization (fbgemm: int8 weights, activations
quantized per call) reads a quarter of that and runs the same products 3-5x faster.

``torch.ao.quantization.quantize_dynamic`` converts ``nn.Linear`` only, and open_clip's attention is an
``nn.MultiheadAttention`` whose packed ``in_proj_weight`` it skips (a third of each block's weights). So each
attention module is first swapped for :class:`_SelfAttention`, the same computation written with two
``nn.Linear`` layers and ``scaled_dot_product_attention``, which are then quantized with the MLPs.

Rules: the copy is built from the loaded model once per fingerprint and never mutates it (the shared model,
its hooks and its image tower are untouched); it is used only for *text* embeddings of interactive queries
(``core.analyses.search.text_to_neurons`` and the CLI ``neurons --query``), never for stored artifacts; results agree
with float32 to a cosine of >= 0.999 on the trained demo tower and >= 0.998 on a random-init RN50x4 tower
(tested; top-10 agreement in benchmarks/bench_search.py). ``exact=True`` in the
callers, or ``CLIP_EXPLORER_EXACT_TEXT=1``, turns it off.
"""
from __future__ import annotations

import copy
import logging
import os
import threading
import warnings
from collections import OrderedDict
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from core.model.loading import LoadedModel

logger = logging.getLogger(__name__)

MIN_PARAMS = 20_000_000  # smaller text towers (the demo's, 0.6 M without embeddings) are fast in float32
_CACHE: OrderedDict[str, nn.Module | None] = OrderedDict()
_CACHE_SIZE = 2
_LOCK = threading.Lock()


class _SelfAttention(nn.Module):
    """``nn.MultiheadAttention`` (self-attention, no dropout) as two ``nn.Linear`` and SDPA."""

    def __init__(self, mha: nn.MultiheadAttention):
        super().__init__()
        d = mha.embed_dim
        self.heads, self.batch_first = mha.num_heads, mha.batch_first
        self.in_proj = nn.Linear(d, 3 * d, bias=mha.in_proj_bias is not None)
        self.out_proj = nn.Linear(d, d, bias=mha.out_proj.bias is not None)
        with torch.no_grad():
            self.in_proj.weight.copy_(mha.in_proj_weight)
            self.out_proj.weight.copy_(mha.out_proj.weight)
            if mha.in_proj_bias is not None:
                self.in_proj.bias.copy_(mha.in_proj_bias)
            if mha.out_proj.bias is not None:
                self.out_proj.bias.copy_(mha.out_proj.bias)

    def forward(self, q, k=None, v=None, need_weights=False, attn_mask=None):  # the MHA call signature
        x = q if self.batch_first else q.transpose(0, 1)  # (B, L, D)
        b, n, d = x.shape
        qkv = self.in_proj(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=attn_mask)  # (B, H, L, d_h)
        out = self.out_proj(out.transpose(1, 2).reshape(b, n, d))
        return (out if self.batch_first else out.transpose(0, 1)), None


class _TextTower(nn.Module):
    """The text half of an open_clip ``CLIP``: the attributes ``core.model.embed`` reads, nothing else."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.token_embedding = copy.deepcopy(model.token_embedding)
        self.positional_embedding = copy.deepcopy(model.positional_embedding)
        self.transformer = copy.deepcopy(model.transformer)
        self.ln_final = copy.deepcopy(model.ln_final)
        proj = model.text_projection
        self.text_projection = copy.deepcopy(proj) if proj is not None else None
        self.register_buffer("attn_mask", model.attn_mask.clone() if model.attn_mask is not None else None,
                             persistent=False)
        self.text_pool_type = getattr(model, "text_pool_type", "argmax")
        self.text_eos_id = getattr(model, "text_eos_id", None)


def supported(model: nn.Module) -> bool:
    """A standard open_clip text transformer (``CLIP``, not an HF text tower) with ``nn.MultiheadAttention``."""
    blocks = getattr(getattr(model, "transformer", None), "resblocks", None)
    return (hasattr(model, "positional_embedding") and blocks is not None and len(blocks) > 0
            and all(isinstance(getattr(b, "attn", None), nn.MultiheadAttention) for b in blocks)
            and getattr(model, "text_pool_type", "argmax") == "argmax"
            and "fbgemm" in torch.backends.quantized.supported_engines)


def worthwhile(loaded: LoadedModel) -> bool:
    """Use the int8 tower? CPU models with a big text transformer, unless ``CLIP_EXPLORER_EXACT_TEXT=1``."""
    if os.environ.get("CLIP_EXPLORER_EXACT_TEXT", "").strip() in ("1", "true", "yes"):
        return False
    model = loaded.model
    if torch.device(loaded.device).type != "cpu" or not supported(model):
        return False
    return sum(p.numel() for p in model.transformer.parameters()) >= MIN_PARAMS


def build(model: nn.Module) -> nn.Module:
    """A new int8 text tower from ``model`` (which is left untouched)."""
    tower = _TextTower(model).float().eval()
    for block in tower.transformer.resblocks:
        block.attn = _SelfAttention(block.attn)
    torch.backends.quantized.engine = "fbgemm"
    with warnings.catch_warnings():  # the eager-mode API is deprecated in favour of torchao; it is what ships
        warnings.simplefilter("ignore")
        tq = torch.ao.quantization
        spec = {nn.Linear: tq.per_channel_dynamic_qconfig}  # one scale per output row: closer than per tensor
        tower.transformer = tq.quantize_dynamic(tower.transformer, spec, dtype=torch.qint8)
    for block in tower.transformer.resblocks:
        block.mlp.c_fc.int8_original_dtype = torch.float32  # open_clip's get_cast_dtype() reads this
    return tower


def text_tower(loaded: LoadedModel) -> nn.Module | None:
    """The cached int8 tower of ``loaded`` (built on first use, ~1 s for RN50x4), or None if not worthwhile."""
    if not worthwhile(loaded):
        return None
    key = loaded.fingerprint
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = build(loaded.model)
            logger.info("built the int8 text tower for %s", loaded.spec.id)
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
        _CACHE.move_to_end(key)
        return _CACHE[key]

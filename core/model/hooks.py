"""Layers and neurons: naming, listing, and context-managed activation capture.

A layer id is a ``model.named_modules()`` path, optionally followed by ``@in`` to take the
module's *input* instead of its output. The article's unit for ResNet CLIPs is the pre-ReLU
residual sum of the last bottleneck, i.e. the input of its in-place ``act3`` ReLU:
``visual.layer4.5.act3@in`` for RN50x4. A neuron id is ``layer:unit``.
Nothing here imports streamlit.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from core.errors import BadNeuronIdError, LayerNotFoundError, UnitOutOfRangeError, with_suggestions

logger = logging.getLogger(__name__)

INPUT_SUFFIX = "@in"


@dataclass(frozen=True)
class LayerInfo:
    """One hookable layer.

    Attributes:
        id: layer id (module path, ``@in`` suffix for the module's input).
        module: the ``named_modules()`` path.
        take_input: capture the module's input (True) or output (False).
        units: number of neurons (channels / hidden units).
        kind: ``pre_relu`` (residual sum before the block's ReLU), ``block`` (block output, post-ReLU),
            ``mlp`` (ViT MLP hidden units after GELU) or ``resid`` (ViT residual stream).
        layout: ``BCHW`` (convolution maps) or ``BLD`` (tokens).
    """

    id: str
    module: str
    take_input: bool
    units: int
    kind: str
    layout: str


@dataclass(frozen=True, order=True)
class NeuronRef:
    """A neuron: ``layer`` id plus ``unit`` index; string form ``layer:unit``."""

    layer: str
    unit: int

    def __str__(self) -> str:
        return f"{self.layer}:{self.unit}"

    @classmethod
    def parse(cls, text: str) -> NeuronRef:
        """Parse ``layer:unit``.

        Raises:
            BadNeuronIdError: not of that form.
        """
        layer, sep, unit = (text or "").strip().rpartition(":")
        if not sep or not layer or not unit.strip().lstrip("-").isdigit():
            raise BadNeuronIdError(f"Neuron id '{text}' is not of the form LAYER:UNIT, e.g. visual.layer4.5.act3@in:89.")
        return cls(layer, int(unit))


def _unwrap(target) -> nn.Module:
    return target.model if hasattr(target, "model") and hasattr(target, "fingerprint") else target


def list_layers(target) -> list[LayerInfo]:
    """All hookable layers of a CLIP's image tower, in forward order.

    ModifiedResNet: for every bottleneck, its pre-ReLU residual sum and its post-ReLU output.
    VisionTransformer: for every residual block, the MLP hidden units and the residual stream.

    Args:
        target: a ``LoadedModel`` or an open_clip ``CLIP`` module.
    """
    model = _unwrap(target)
    visual = model.visual
    out: list[LayerInfo] = []
    if type(visual).__name__ == "ModifiedResNet":
        for stage in range(1, 5):
            for j, block in enumerate(getattr(visual, f"layer{stage}")):
                path = f"visual.layer{stage}.{j}"
                units = block.conv3.out_channels
                out.append(LayerInfo(f"{path}.act3{INPUT_SUFFIX}", f"{path}.act3", True, units, "pre_relu", "BCHW"))
                out.append(LayerInfo(path, path, False, units, "block", "BCHW"))
    elif hasattr(visual, "transformer"):
        for k, block in enumerate(visual.transformer.resblocks):
            path = f"visual.transformer.resblocks.{k}"
            hidden = block.mlp.c_fc.out_features
            out.append(LayerInfo(f"{path}.mlp.gelu", f"{path}.mlp.gelu", False, hidden, "mlp", "BLD"))
            out.append(LayerInfo(path, path, False, visual.transformer.width, "resid", "BLD"))
    return out


def article_layer(target) -> str:
    """The layer the article studies: last bottleneck's pre-ReLU sum (ResNet) or last MLP (ViT)."""
    layers = list_layers(target)
    wanted = "pre_relu" if any(li.kind == "pre_relu" for li in layers) else "mlp"
    candidates = [li for li in layers if li.kind == wanted]
    if not candidates:
        raise LayerNotFoundError("This model's image tower has no layers this tool knows how to hook.")
    return candidates[-1].id


def resolve_layer(target, layer: str) -> LayerInfo:
    """Look up a layer id; also accepts any module path (output) or module path + ``@in``.

    Raises:
        LayerNotFoundError: unknown id, with close valid choices.
    """
    layers = list_layers(target)
    for li in layers:
        if li.id == layer:
            return li
    model = _unwrap(target)
    module_path = layer.removesuffix(INPUT_SUFFIX)
    modules = dict(model.named_modules())
    if module_path in modules and module_path.startswith("visual."):
        known = {li.module: li for li in layers}
        base = known.get(module_path)
        units = base.units if base else 0
        return LayerInfo(layer, module_path, layer.endswith(INPUT_SUFFIX), units, "custom", base.layout if base else "")
    raise LayerNotFoundError(with_suggestions(f"No layer '{layer}' in this model.", layer, [li.id for li in layers]))


def resolve_neuron(target, neuron: str | NeuronRef) -> NeuronRef:
    """Parse and validate a neuron id against the model.

    Raises:
        BadNeuronIdError, LayerNotFoundError, UnitOutOfRangeError: with the valid range or choices.
    """
    ref = NeuronRef.parse(neuron) if isinstance(neuron, str) else neuron
    info = resolve_layer(target, ref.layer)
    if info.units and not 0 <= ref.unit < info.units:
        raise UnitOutOfRangeError(f"Unit {ref.unit} is out of range for layer {ref.layer}: valid units are 0..{info.units - 1}.")
    return ref


@contextlib.contextmanager
def capture(target, layers: Sequence[str], *, keep_graph: bool = False) -> Iterator[dict[str, torch.Tensor]]:
    """Capture activations of ``layers`` during forward passes inside the ``with`` block.

    Hooks clone what they capture (the ResNet blocks use an in-place residual add and ReLU, which
    would overwrite a kept reference), are always removed on exit, even on exceptions, and the
    model's lock is held throughout when ``target`` is a ``LoadedModel``.

    Args:
        target: a ``LoadedModel`` or an open_clip ``CLIP`` module.
        layers: layer ids (see ``list_layers``).
        keep_graph: keep the autograd graph (feature visualization); otherwise values are detached.

    Yields:
        A dict layer id -> tensor, filled by each forward pass: (B, C, H, W) for convolution layers,
        (B, L, D) for token layers (open_clip runs its transformer batch-first).
    """
    model = _unwrap(target)
    lock = getattr(target, "lock", None)
    infos = [resolve_layer(model, layer) for layer in layers]
    modules = dict(model.named_modules())
    acts: dict[str, torch.Tensor] = {}
    handles = []

    def _store(layer_id: str, value: torch.Tensor) -> None:
        value = value if keep_graph else value.detach()
        acts[layer_id] = value.clone()

    with lock if lock is not None else contextlib.nullcontext():
        try:
            for info in infos:
                module = modules[info.module]
                if info.take_input:
                    handles.append(module.register_forward_pre_hook(
                        lambda _m, args, _id=info.id: _store(_id, args[0])))
                else:
                    handles.append(module.register_forward_hook(
                        lambda _m, _args, output, _id=info.id: _store(_id, output)))
            yield acts
        finally:
            for h in handles:
                h.remove()


@contextlib.contextmanager
def patch(target, layer: str, edit: Callable[[torch.Tensor], torch.Tensor]) -> Iterator[None]:
    """Replace one layer's activation by ``edit(activation)`` during forward passes in the block.

    The intervention counterpart of ``capture``: same layer ids, the hook is always removed on exit
    (even on exceptions) and the model's lock is held throughout when ``target`` is a
    ``LoadedModel``. ``edit`` receives a clone, so it may modify it in place; it must return a
    tensor of the same shape. For ``@in`` layers the module's input is replaced (for the article's
    layer, the pre-ReLU sum: the block's ReLU then applies to the edited value).

    Args:
        target: a ``LoadedModel`` or an open_clip ``CLIP`` module.
        layer: layer id (see ``list_layers``).
        edit: (B, C, H, W) or (B, L, D) tensor -> tensor of the same shape.

    Raises:
        LayerNotFoundError: unknown layer id.
    """
    model = _unwrap(target)
    lock = getattr(target, "lock", None)
    info = resolve_layer(model, layer)
    module = dict(model.named_modules())[info.module]

    def _apply(value: torch.Tensor) -> torch.Tensor:
        out = edit(value.clone())
        if not isinstance(out, torch.Tensor) or out.shape != value.shape:
            raise ValueError(f"patch edit must return a tensor of shape {tuple(value.shape)}")
        return out

    with lock if lock is not None else contextlib.nullcontext():
        if info.take_input:
            handle = module.register_forward_pre_hook(lambda _m, args: (_apply(args[0]), *args[1:]))
        else:
            handle = module.register_forward_hook(lambda _m, _args, output: _apply(output))
        try:
            yield
        finally:
            handle.remove()


def reduce_positions(act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-unit spatial reductions of one layer's activations.

    Args:
        act: (B, C, H, W) or (B, L, D).

    Returns:
        ``(max, argmax, mean)``, each (B, units); ``argmax`` is the flat position index
        (``h * W + w`` for maps, the token index for token layers).
    """
    if act.dim() == 4:
        flat = act.flatten(2)  # (B, C, H*W)
    elif act.dim() == 3:
        flat = act.transpose(1, 2)  # (B, D, L)
    else:
        raise ValueError(f"expected a (B,C,H,W) or (B,L,D) activation, got shape {tuple(act.shape)}")
    mx, arg = flat.max(dim=2)
    return mx, arg, flat.mean(dim=2)

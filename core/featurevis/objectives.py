"""Feature-visualization objectives as a small algebra (``+``, ``-``, scalar ``*`` and ``/``).

An ``Objective`` maps the captured activations ``{layer id: tensor}`` of one forward pass to a
per-image value (B,) to *maximise*; it names the layers it reads, so ``render`` hooks exactly
those. Its ``name`` describes it completely (it keys the render cache). Layouts: (B, C, H, W) for
convolution layers, (B, L, D) for token layers. Imports torch only.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from core.errors import BadInputError

logger = logging.getLogger(__name__)

Acts = Mapping[str, torch.Tensor]


@dataclass(frozen=True)
class Objective:
    """A differentiable score of activations: ``fn(acts) -> (B,)``, to maximise.

    Attributes:
        fn: the scoring function.
        layers: layer ids ``fn`` reads (and ``render`` hooks).
        name: a complete, human-readable description (also the cache key).
    """

    fn: Callable[[Acts], torch.Tensor]
    layers: tuple[str, ...]
    name: str

    def __call__(self, acts: Acts) -> torch.Tensor:
        return self.fn(acts)

    def _merge(self, other: Objective, sign: float, symbol: str) -> Objective:
        layers = tuple(dict.fromkeys(self.layers + other.layers))
        return Objective(lambda acts: self.fn(acts) + sign * other.fn(acts), layers,
                         f"{self.name} {symbol} {_wrap(other.name)}")

    def __add__(self, other: Objective) -> Objective:
        return self._merge(_check(other), 1.0, "+")

    def __sub__(self, other: Objective) -> Objective:
        return self._merge(_check(other), -1.0, "-")

    def __mul__(self, k: float) -> Objective:
        if not isinstance(k, (int, float)):
            return NotImplemented
        return Objective(lambda acts: k * self.fn(acts), self.layers, f"{k:g}*{_wrap(self.name)}")

    __rmul__ = __mul__

    def __truediv__(self, k: float) -> Objective:
        return self * (1.0 / k)

    def __neg__(self) -> Objective:
        return Objective(lambda acts: -self.fn(acts), self.layers, f"-{_wrap(self.name)}")


def _wrap(name: str) -> str:
    return f"({name})" if (" + " in name or " - " in name) else name


def _check(other) -> Objective:
    if not isinstance(other, Objective):
        raise TypeError(f"can only combine an Objective with an Objective, not {type(other).__name__}")
    return other


def _unit_positions(act: torch.Tensor, unit: int) -> torch.Tensor:
    """One unit's values at every position: (B, H*W) for maps, (B, L) for tokens."""
    if act.dim() == 4:
        return act[:, unit].flatten(1)
    if act.dim() == 3:
        return act[:, :, unit]
    raise BadInputError(f"expected a (B,C,H,W) or (B,L,D) activation, got {tuple(act.shape)}")


def _channel_dim(act: torch.Tensor) -> int:
    return 1 if act.dim() == 4 else -1


def _positions_mean(x: torch.Tensor) -> torch.Tensor:
    """Mean over positions of a per-position value: (B, H, W) or (B, L) -> (B,)."""
    return x.flatten(1).mean(dim=1)


def channel(layer: str, unit: int) -> Objective:
    """A unit's activation averaged over all positions (lucid's ``channel``)."""
    return Objective(lambda acts: _unit_positions(acts[layer], unit).mean(dim=1), (layer,),
                     f"channel({layer}:{unit})")


def neuron(layer: str, unit: int, x: int | None = None, y: int | None = None) -> Objective:
    """A unit at one position: (x, y) on a map (default the centre), token x for token layers."""
    def fn(acts: Acts) -> torch.Tensor:
        act = acts[layer]
        if act.dim() == 4:
            h, w = act.shape[-2:]
            return act[:, unit, h // 2 if y is None else y, w // 2 if x is None else x]
        return act[:, 0 if x is None else x, unit]
    where = "centre" if x is None and y is None else f"{x},{y}"
    return Objective(fn, (layer,), f"neuron({layer}:{unit}@{where})")


def direction(layer: str, vector: torch.Tensor | Sequence[float], *, relu: bool = False,
              label: str | None = None) -> Objective:
    """Dot product of the activations with a direction over channels, averaged over positions.

    With ``relu=True`` this is the released recipe's ``vector`` objective (relu(act) . d).

    Args:
        layer: layer id.
        vector: (C,) direction.
        relu: rectify the activations first.
        label: a short readable name; the cache key always includes a hash of ``vector``.
    """
    vec = torch.as_tensor(vector, dtype=torch.float32).flatten()
    digest = hashlib.blake2b(vec.numpy().tobytes(), digest_size=4).hexdigest()

    def fn(acts: Acts) -> torch.Tensor:
        act = acts[layer]
        act = F.relu(act) if relu else act
        d = vec.to(act)
        dots = torch.einsum("bchw,c->bhw", act, d) if act.dim() == 4 else act @ d  # (B, H, W) | (B, L)
        return _positions_mean(dots)
    return Objective(fn, (layer,), f"direction({layer}, {label or 'vector'}#{digest}{', relu' if relu else ''})")


def diversity(layer: str) -> Objective:
    """Batch diversity: minus each image's mean cosine similarity of Gram matrices to the others.

    Olah et al. 2017 (lucid's ``diversity``); zero for a batch of one.
    """
    def fn(acts: Acts) -> torch.Tensor:
        act = acts[layer]
        b = act.shape[0]
        if b < 2:
            return act.sum() * 0.0 + torch.zeros(b, device=act.device)
        flat = act.flatten(2) if act.dim() == 4 else act.transpose(1, 2)  # (B, C, P)
        gram = F.normalize(torch.bmm(flat, flat.transpose(1, 2)).flatten(1), dim=1)  # (B, C*C)
        sims = gram @ gram.T  # (B, B)
        off = sims.sum(dim=1) - sims.diagonal()
        return -off / (b - 1)
    return Objective(fn, (layer,), f"diversity({layer})")


def facet(base: Objective, layer: str, weights: torch.Tensor, *, strength: float | tuple[float, float] = 1.0,
          label: str = "facet") -> Objective:
    """Faceted prior (paper-methods §2.2): ``strength * mean_pos sum_c (a ⊙ relu(stop_grad(∂base/∂a)) ⊙ w)``.

    ``a`` is the (earlier) facet layer's activation; the gradient of the base objective acts as a
    filter so the probe direction ``w`` only pushes features the neuron cares about. Returns the
    facet *term* only; add it to ``base`` (``faceted`` does both).

    Args:
        base: the neuron objective f.
        layer: the facet layer; must be upstream of ``base``'s layers and hooked on its output.
        weights: (C,) probe weights over the facet layer's channels.
        strength: one value, or ``(lo, hi)`` spread over the batch as in the released code.
        label: a readable facet name for ``name`` (e.g. ``text``).
    """
    w = torch.as_tensor(weights, dtype=torch.float32).flatten()
    digest = hashlib.blake2b(w.numpy().tobytes(), digest_size=4).hexdigest()

    def fn(acts: Acts) -> torch.Tensor:
        a = acts[layer]
        b = a.shape[0]
        if isinstance(strength, tuple):
            s = torch.linspace(strength[0], strength[1], b, device=a.device)
        else:
            s = torch.full((b,), float(strength), device=a.device)
        (grad,) = torch.autograd.grad(base.fn(acts).sum(), a, retain_graph=True, allow_unused=True)
        if grad is None:
            raise BadInputError(f"facet layer {layer} does not feed the objective {base.name}; "
                                "pick an earlier layer (e.g. a layer3 block output).")
        attr = a * grad.clamp(min=0)  # gradient is a constant here (stop_grad)
        wd = w.to(a)
        proj = torch.einsum("bchw,c->bhw", attr, wd) if a.dim() == 4 else attr @ wd
        return s * _positions_mean(proj)
    s_txt = f"{strength[0]:g}..{strength[1]:g}" if isinstance(strength, tuple) else f"{strength:g}"
    return Objective(fn, tuple(dict.fromkeys((layer,) + base.layers)), f"facet[{label}#{digest}@{s_txt}]({base.name})")


def faceted(base: Objective, layer: str, weights: torch.Tensor, *, strength: float | tuple[float, float] = 1.0,
            label: str = "facet") -> Objective:
    """``base + facet(base, ...)``: the full faceted objective."""
    return base + facet(base, layer, weights, strength=strength, label=label)


def as_objective(spec: Objective | str) -> Objective:
    """An Objective as is, or a ``"layer:unit"`` string as ``channel(layer, unit)``."""
    if isinstance(spec, Objective):
        return spec
    from core.model.hooks import NeuronRef

    ref = NeuronRef.parse(spec)
    return channel(ref.layer, ref.unit)

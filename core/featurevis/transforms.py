"""Random image transforms for transformation-robust feature visualization.

A transform is a closure ``t(x, generator) -> x`` on a (B, 3, H, W) batch in [0, 1]; every random
choice is drawn from the ``torch.Generator`` passed in, so a seed fixes the whole render.
``standard(size)`` is the CLIP-featurevis recipe (paper-methods §2.1) scaled to the image size.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from core.errors import BadInputError

Transform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]

# The released recipe's choices (CLIP-featurevis example_facets.py).
SCALES: tuple[float, ...] = tuple([0.995 ** n for n in range(-5, 80)] + [0.998 ** n for n in 2 * list(range(20, 40))])
ANGLES: tuple[float, ...] = tuple(float(a) for a in list(range(-20, 20)) + list(range(-10, 10))
                                  + list(range(-5, 5)) + 5 * [0])
LIGHT_SCALES: tuple[float, ...] = tuple(1 + (i - 5) / 50.0 for i in range(11))  # lucid's standard_transforms
LIGHT_ANGLES: tuple[float, ...] = tuple(float(a) for a in list(range(-10, 11)) + 5 * [0])
TRANSFORM_SETS = ("standard", "light", "none")


def _choice(options: Sequence[float], g: torch.Generator) -> float:
    return float(options[int(torch.randint(len(options), (1,), generator=g))])


def pad(width: int, value: float = 0.5) -> Transform:
    """Pad every side by ``width`` pixels of constant ``value`` (grey)."""
    def t(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        return F.pad(x, (width,) * 4, mode="constant", value=value)
    return t


def jitter(d: int) -> Transform:
    """Random crop that removes ``d`` pixels in total from each axis (a random shift of up to d)."""
    def t(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        if d <= 0:
            return x
        dx, dy = (int(v) for v in torch.randint(d + 1, (2,), generator=g))
        h, w = x.shape[-2:]
        return x[..., dy:h - d + dy, dx:w - d + dx]
    return t


def random_scale(scales: Sequence[float] = SCALES) -> Transform:
    """Resize by a factor drawn from ``scales`` (bilinear)."""
    def t(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        s = _choice(scales, g)
        h, w = x.shape[-2:]
        size = (max(1, round(h * s)), max(1, round(w * s)))
        if size == (h, w):
            return x
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return t


def random_rotate(angles: Sequence[float] = ANGLES, fill: float = 0.5) -> Transform:
    """Rotate by an angle (degrees) drawn from ``angles``; uncovered corners get ``fill``."""
    def t(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        a = math.radians(_choice(angles, g))
        if a == 0.0:
            return x
        cos, sin = math.cos(a), math.sin(a)
        theta = torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0]], dtype=x.dtype, device=x.device)
        grid = F.affine_grid(theta.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
        # Sample x - fill with zero padding, then add fill back: corners become ``fill``.
        return F.grid_sample(x - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + fill
    return t


def crop_or_pad_to(size: int, value: float = 0.5) -> Transform:
    """Centre-crop or pad (with ``value``) to ``size`` x ``size``: the model's input size."""
    def t(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h < size or w < size:
            ph, pw = max(0, size - h), max(0, size - w)
            x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), mode="constant", value=value)
            h, w = x.shape[-2:]
        top, left = (h - size) // 2, (w - size) // 2
        return x[..., top:top + size, left:left + size]
    return t


def compose(transforms: Sequence[Transform]) -> Transform:
    """Apply ``transforms`` in order with one generator."""
    def t(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        for tf in transforms:
            x = tf(x, g)
        return x
    return t


def random_affine(size: int, *, pad_width: int, jitter1: int, scales: Sequence[float], angles: Sequence[float],
                  jitter2: int, fill: float = 0.5) -> Transform:
    """pad -> jitter -> random_scale -> random_rotate -> jitter -> crop_or_pad_to(size), fused into one resampling.

    Draws the same random choices, in the same order, as the composed transforms, but maps every
    output pixel back to the input through the composed affine map and samples once (bilinear; outside
    the input = ``fill``). One ``grid_sample`` instead of six ops keeps a render step close to the
    cost of the model's own forward+backward.
    """
    def t(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        n = x.shape[-1] + 2 * pad_width  # side after pad (square images)
        j1 = [int(v) for v in torch.randint(jitter1 + 1, (2,), generator=g)] if jitter1 > 0 else [0, 0]
        n -= jitter1
        s = _choice(scales, g)
        m = max(1, round(n * s))
        a = math.radians(_choice(angles, g))
        j2 = [int(v) for v in torch.randint(jitter2 + 1, (2,), generator=g)] if jitter2 > 0 else [0, 0]
        k = m - jitter2  # side before the final crop/pad
        off = (k - size) // 2 if k >= size else -((size - k) // 2)
        # Output pixel q (continuous coords, centres at i + 0.5) -> input pixel p = A q + b, composed backwards:
        # crop/pad and the second jitter (shift t1), rotation about the centre c, scale n/m, first jitter and pad.
        t1x, t1y, c, r = off + j2[0], off + j2[1], m / 2.0, n / m
        cos, sin = math.cos(a), math.sin(a)
        a11, a12, a21, a22 = r * cos, -r * sin, r * sin, r * cos
        bx = r * (cos * (t1x - c) - sin * (t1y - c) + c) + j1[0] - pad_width
        by = r * (sin * (t1x - c) + cos * (t1y - c) + c) + j1[1] - pad_width
        # To grid_sample's normalised coords (align_corners=False): q = (u + 1) S / 2, p_norm = 2 p / W - 1.
        h, w = x.shape[-2:]
        half = size / 2.0
        theta = torch.tensor([[a11 * size / w, a12 * size / w, 2 * (a11 * half + a12 * half + bx) / w - 1],
                              [a21 * size / h, a22 * size / h, 2 * (a21 * half + a22 * half + by) / h - 1]],
                             dtype=x.dtype, device=x.device)
        grid = F.affine_grid(theta.expand(x.shape[0], 2, 3), [x.shape[0], x.shape[1], size, size],
                             align_corners=False)
        return F.grid_sample(x - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + fill
    return t


def standard_steps(size: int) -> list[Transform]:
    """The released CLIP-featurevis recipe as separate steps, scaled from its 256-288 px to ``size``.

    pad(2) -> jitter(16) -> random_scale -> random_rotate -> jitter(2) -> crop_or_pad_to(size), pixel
    amounts given at 256 px. The recipe's ten successive jitter(4) crops become one jitter(16): the
    same kind of random shift, but it keeps more of a small (64 px) image inside the frame.
    """
    p, j1, j2 = _standard_sizes(size)
    return [pad(p), jitter(j1), random_scale(), random_rotate(), jitter(j2), crop_or_pad_to(size)]


def _standard_sizes(size: int) -> tuple[int, int, int]:
    u = size / 256.0
    return max(1, round(2 * u)), max(2, round(16 * u)), max(1, round(2 * u))


def _light_sizes(size: int) -> tuple[int, int, int]:
    u = size / 224.0
    return max(1, round(12 * u)), max(1, round(8 * u)), max(1, round(4 * u))


def standard(size: int) -> list[Transform]:
    """``standard_steps`` fused into one resampling (same random choices; see ``random_affine``)."""
    p, j1, j2 = _standard_sizes(size)
    return [random_affine(size, pad_width=p, jitter1=j1, scales=SCALES, angles=ANGLES, jitter2=j2)]


def light_steps(size: int) -> list[Transform]:
    """lucid's ``standard_transforms`` scaled from 224 px: pad 12, jitter 8, scale 0.9-1.1, rotate +-10, jitter 4."""
    p, j1, j2 = _light_sizes(size)
    return [pad(p), jitter(j1), random_scale(LIGHT_SCALES), random_rotate(LIGHT_ANGLES), jitter(j2),
            crop_or_pad_to(size)]


def light(size: int) -> list[Transform]:
    """``light_steps`` fused into one resampling."""
    p, j1, j2 = _light_sizes(size)
    return [random_affine(size, pad_width=p, jitter1=j1, scales=LIGHT_SCALES, angles=LIGHT_ANGLES, jitter2=j2)]


def make_transforms(name: str, size: int) -> list[Transform]:
    """A named transform set: ``standard`` (the article's), ``light`` (lucid's) or ``none`` (fit to size).

    Raises:
        BadInputError: unknown name.
    """
    if name == "standard":
        return standard(size)
    if name == "light":
        return light(size)
    if name == "none":
        return [crop_or_pad_to(size)]
    raise BadInputError(f"Unknown transform set '{name}'. Available: {', '.join(TRANSFORM_SETS)}.")

"""Image parametrizations for feature visualization: Fourier (spectrum-scaled) and plain pixels.

Each builder returns ``(params, make_image)``: the leaf tensors to optimise and a function that
turns them into a (B, 3, H, W) RGB batch in [0, 1]. This is lucid's ``param.image`` recipe
(``fft=True, decorrelate=True``, sigmoid to [0, 1]) with the random start drawn from an explicit
``torch.Generator``. Nothing here touches a model. Imports torch only.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

import torch

from core.errors import BadInputError

logger = logging.getLogger(__name__)

MakeImage = Callable[[], torch.Tensor]
PARAMETRIZATIONS = ("fft", "pixel")

# Square root of the colour covariance of natural images (lucid's ``color_correlation_svd_sqrt``);
# optimising in this decorrelated space makes colour and luminance equally easy to move.
_COLOR_SVD_SQRT = torch.tensor([[0.26, 0.09, 0.02],
                                [0.27, 0.00, -0.05],
                                [0.27, -0.09, 0.03]])
_COLOR_CORRELATION = _COLOR_SVD_SQRT / _COLOR_SVD_SQRT.norm(dim=0).max()


def _decorrelate_colors(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) in decorrelated space -> correlated RGB (before the sigmoid)."""
    return torch.einsum("bchw,dc->bdhw", x, _COLOR_CORRELATION.to(x))


def _frequencies(h: int, w: int) -> torch.Tensor:
    """|f| for every rfft2 coefficient of an h x w image: (h, w // 2 + 1)."""
    fy = torch.fft.fftfreq(h)[:, None]
    fx = torch.fft.rfftfreq(w)[None, :]
    return torch.sqrt(fx * fx + fy * fy)


def fft_image(size: int, *, batch: int = 1, sd: float = 0.01, decay_power: float = 1.0,
              decorrelate: bool = True, generator: torch.Generator | None = None,
              device: torch.device | str = "cpu") -> tuple[list[torch.Tensor], MakeImage]:
    """Fourier parametrization: spectrum scaled by 1/f^decay_power, decorrelated colour, sigmoid.

    Args:
        size: side of the square image in pixels.
        batch: number of images optimised together.
        sd: standard deviation of the random start.
        decay_power: how strongly high frequencies are damped (1 = lucid's default).
        decorrelate: optimise in the decorrelated colour space.
        generator: seeded generator for the random start (CPU).
        device: where the parameters live (the model's device).

    Returns:
        ``([spectrum], make_image)``; ``spectrum`` is (B, 3, H, W//2+1, 2), ``make_image()`` is
        (B, 3, H, W) in [0, 1].
    """
    h = w = int(size)
    freqs = _frequencies(h, w)
    scale = 1.0 / torch.clamp(freqs, min=1.0 / max(h, w)) ** decay_power  # (H, W//2+1)
    scale = scale.to(device)  # with the orthonormal inverse FFT below this equals lucid's sqrt(h*w)/N scaling
    spectrum = (torch.randn((batch, 3, h, w // 2 + 1, 2), generator=generator) * sd).to(device)
    spectrum.requires_grad_(True)

    def make_image() -> torch.Tensor:
        coeffs = torch.view_as_complex(spectrum) * scale  # (B, 3, H, W//2+1)
        x = torch.fft.irfft2(coeffs, s=(h, w), norm="ortho") / 4.0  # (B, 3, H, W); lucid's /4
        if decorrelate:
            x = _decorrelate_colors(x)
        return torch.sigmoid(x)

    return [spectrum], make_image


def pixel_image(size: int, *, batch: int = 1, sd: float = 0.01, decorrelate: bool = False,
                generator: torch.Generator | None = None,
                device: torch.device | str = "cpu") -> tuple[list[torch.Tensor], MakeImage]:
    """Plain pixel parametrization (sigmoid of free pixels; optional colour decorrelation).

    Returns:
        ``([pixels], make_image)``; ``pixels`` is (B, 3, H, W), ``make_image()`` is (B, 3, H, W) in [0, 1].
    """
    pixels = (torch.randn((batch, 3, size, size), generator=generator) * sd).to(device)
    pixels.requires_grad_(True)

    def make_image() -> torch.Tensor:
        x = _decorrelate_colors(pixels) if decorrelate else pixels
        return torch.sigmoid(x)

    return [pixels], make_image


def make_param(name: str, size: int, *, batch: int = 1, generator: torch.Generator | None = None,
               device: torch.device | str = "cpu") -> tuple[list[torch.Tensor], MakeImage]:
    """Build a parametrization by name (``fft`` or ``pixel``).

    Raises:
        BadInputError: unknown name (lists the valid ones).
    """
    if name == "fft":
        return fft_image(size, batch=batch, generator=generator, device=device)
    if name == "pixel":
        return pixel_image(size, batch=batch, generator=generator, device=device)
    raise BadInputError(f"Unknown parametrization '{name}'. Available: {', '.join(PARAMETRIZATIONS)}.")

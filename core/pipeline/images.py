"""Robust image opening: every odd file either loads upright as RGB or raises ``BadImageError``.

Handles alpha/palette transparency (composited onto white: open_clip's own ``convert('RGB')``
would turn transparent pixels black), CMYK, 16-bit and float modes, EXIF orientation and
decompression bombs. No torch imports here.
"""
from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.config import MAX_IMAGE_PIXELS
from core.errors import BadInputError

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}


class BadImageError(BadInputError):
    """A file that is not a usable image; ``reason`` is a short machine-friendly tag."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def to_rgb_on_white(img: Image.Image) -> Image.Image:
    """Convert any PIL image to 8-bit RGB, compositing transparency onto white.

    Args:
        img: a PIL image of any mode (RGBA, LA, P with transparency, CMYK, I;16, I, F, 1, L).

    Returns:
        An RGB image of the same size.
    """
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = float(arr.max()) if arr.size else 0.0
        scale = 255.0 / 65535.0 if hi > 255 else 1.0
        img = Image.fromarray(np.clip(arr * scale, 0, 255).astype(np.uint8), mode="L")
    if img.mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        img = img.convert("RGBA")
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, img).convert("RGB")
    return img.convert("RGB")


def open_image(source: str | Path | bytes, *, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Open an image file (or bytes) as an upright RGB image.

    Args:
        source: a path or the raw bytes of an image file.
        max_pixels: refuse images with more pixels than this (decompression bombs).

    Returns:
        A fully decoded RGB PIL image, EXIF orientation applied, transparency on white.

    Raises:
        BadImageError: with ``reason`` one of ``not-found``, ``not-an-image``, ``too-large``,
            ``truncated``, ``decode-error``.
    """
    name = "uploaded image" if isinstance(source, bytes) else str(source)
    fp = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(fp) as im:
                w, h = im.size
                if w * h > max_pixels:
                    raise BadImageError(
                        f"{name}: {w}x{h} = {w * h / 1e6:.0f} MP is over the {max_pixels / 1e6:.0f} MP limit; "
                        "resize it first.", "too-large")
                im.load()
                im = ImageOps.exif_transpose(im)
                return to_rgb_on_white(im)
    except BadImageError:
        raise
    except FileNotFoundError as err:
        raise BadImageError(f"{name}: file not found.", "not-found") from err
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise BadImageError(f"{name}: image too large (decompression bomb guard): {err}", "too-large") from err
    except UnidentifiedImageError as err:
        raise BadImageError(f"{name}: not an image file Pillow can read.", "not-an-image") from err
    except OSError as err:
        reason = "truncated" if "truncated" in str(err).lower() else "decode-error"
        raise BadImageError(f"{name}: cannot decode image ({err}).", reason) from err
    except (ValueError, SyntaxError, Image.DecompressionBombError) as err:  # odd encoders raise these
        raise BadImageError(f"{name}: cannot decode image ({err}).", "decode-error") from err

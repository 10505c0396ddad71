"""Robust image opening: every odd file either loads upright as RGB or raises ``BadImageError``.

Handles alpha/palette transparency (composited onto white: open_clip's own ``convert('RGB')``
would turn transparent pixels black), CMYK, 16-bit and float modes, EXIF orientation and
decompression bombs. No torch imports here.
"""
from __future__ import annotations

import io
import logging
import os
import stat
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


def to_8bit(arr: np.ndarray, *, is_float: bool) -> np.ndarray:
    """Map a 16-bit, 32-bit or float grey image to uint8 without losing it to black.

    Float pictures in [0, 1] are scaled by 255 and integers already in 0..255 are kept; anything else
    (12/16-bit sensor data, float radiance or depth, negative values) is stretched min-max over its finite
    values. NaN and infinities become 0; a constant picture keeps its value clipped to 0..255.
    """
    finite = np.isfinite(arr)
    if not finite.any():
        return np.zeros(arr.shape, np.uint8)
    vals = arr[finite]
    lo, hi = float(vals.min()), float(vals.max())
    if is_float and lo >= 0.0 and hi <= 1.0:
        out = arr * 255.0
    elif lo >= 0.0 and hi <= 255.0 and not is_float:
        out = arr
    elif hi > lo:
        out = (arr - lo) * (255.0 / (hi - lo))
    else:
        out = np.full(arr.shape, lo)
    return np.clip(np.where(finite, out, 0.0), 0, 255).round().astype(np.uint8)


def to_rgb_on_white(img: Image.Image) -> Image.Image:
    """Convert any PIL image to 8-bit RGB, compositing transparency onto white.

    Args:
        img: a PIL image of any mode (RGBA, LA, P with transparency, CMYK, I;16, I, F, 1, L).

    Returns:
        An RGB image of the same size.
    """
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        img = Image.fromarray(to_8bit(np.asarray(img, dtype=np.float64), is_float=img.mode == "F"), mode="L")
    if img.mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        img = img.convert("RGBA")
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, img).convert("RGB")
    return img.convert("RGB")


def open_regular_file(path: str | Path, *, within: Path | None = None):
    """Open ``path`` for binary reading, refusing anything but a regular file, without ever blocking.

    A named pipe, socket or device is refused instead of opened (opening a FIFO for reading blocks until a
    writer appears: an indexing run would hang forever); ``O_NONBLOCK`` makes the open itself return at once
    and ``fstat`` on the opened descriptor checks what was really opened, so a file swapped for something else
    between listing and opening is caught too.

    Args:
        path: the file.
        within: when given (a collection root), the file's real path must lie below it, and the last path
            component is opened with ``O_NOFOLLOW``: a file swapped for a symlink pointing elsewhere after the
            collection was listed is not read.

    Raises:
        BadImageError: ``not-found``, ``not-a-file`` or ``outside-root``.
    """
    name = str(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    target = os.fspath(path)
    if within is not None:
        target = os.path.realpath(target)
        if not Path(target).is_relative_to(Path(within).resolve()):
            raise BadImageError(f"{name} links outside the collection root {within}; not read.", "outside-root")
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(target, flags)
    except FileNotFoundError as err:
        raise BadImageError(f"{name}: file not found.", "not-found") from err
    except OSError as err:  # ELOOP: the last component became a symlink after realpath; EACCES...
        raise BadImageError(f"{name}: cannot open ({err.strerror}).", "not-a-file") from err
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = ("a named pipe" if stat.S_ISFIFO(mode) else "a directory" if stat.S_ISDIR(mode) else
                    "a socket" if stat.S_ISSOCK(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                    else "not a regular file")
            raise BadImageError(f"{name} is {kind}, not an image file.", "not-a-file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def open_image(source: str | Path | bytes, *, max_pixels: int = MAX_IMAGE_PIXELS,
               within: Path | None = None) -> Image.Image:
    """Open an image file (or bytes) as an upright RGB image.

    Args:
        source: a path or the raw bytes of an image file.
        max_pixels: refuse images with more pixels than this (decompression bombs).
        within: a collection root the file must lie below (see ``open_regular_file``); None for a file the
            user named directly.

    Returns:
        A fully decoded RGB PIL image, EXIF orientation applied, transparency on white.

    Raises:
        BadImageError: with ``reason`` one of ``not-found``, ``not-a-file`` (a pipe, device, directory...),
            ``outside-root``, ``not-an-image``, ``too-large``, ``truncated``, ``decode-error``.
    """
    name = "uploaded image" if isinstance(source, (bytes, bytearray, memoryview)) or hasattr(source, "read") \
        else str(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        fp = io.BytesIO(source)
    elif hasattr(source, "read"):  # an open binary file (an upload): the caller owns it
        fp = io.BytesIO(source.read())
    else:
        fp = open_regular_file(source, within=within)
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
    finally:
        fp.close()

"""Rendering of written words: word images, sticker labels and the article's attack pattern.

Owns the shipped DejaVu fonts (assets/fonts/), split into training and held-out fonts so
"reading" can be evaluated in typefaces the demo model never saw. Pure PIL/numpy; imports no
torch and nothing from the UI.
"""

from __future__ import annotations

import functools
import logging
import math
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from core.config import ASSETS_DIR
from core.errors import CoreError

logger = logging.getLogger(__name__)

FONT_DIR = ASSETS_DIR / "fonts"

# Held out of demo-model training; used only to evaluate reading (feasibility study's choice).
HELDOUT_FONTS: tuple[str, ...] = (
    "DejaVuSerif-BoldItalic", "DejaVuSansMono-Oblique",
    "DejaVuSansCondensed-Bold", "DejaVuSerifCondensed-Italic",
)
TRAIN_FONTS: tuple[str, ...] = tuple(sorted(
    p.stem for p in FONT_DIR.glob("DejaVu*.ttf") if p.stem not in HELDOUT_FONTS
))
DEFAULT_FONT = "DejaVuSans-Bold"
Color = tuple[int, int, int]

# The article's automated attack draws the text 8 times at 8 fixed spots (paper-methods §7.1);
# the article does not publish the spots, so these are ours, as fractions of (width, height).
ARTICLE_SPOTS: tuple[tuple[float, float], ...] = (
    (0.05, 0.06), (0.55, 0.10), (0.20, 0.30), (0.62, 0.42),
    (0.04, 0.56), (0.40, 0.66), (0.10, 0.84), (0.60, 0.86),
)


class FontNotFoundError(CoreError):
    """A font name that is not among the shipped fonts."""


@functools.lru_cache(maxsize=4096)
def load_font(name: str, size: int) -> ImageFont.FreeTypeFont:
    """Load one of the shipped fonts at a pixel size.

    Args:
        name: font file stem, e.g. ``"DejaVuSans-Bold"`` (see ``TRAIN_FONTS``/``HELDOUT_FONTS``).
        size: font size in pixels (>= 1).

    Raises:
        FontNotFoundError: if the font is not shipped.
    """
    path = FONT_DIR / f"{name}.ttf"
    if not path.is_file():
        valid = ", ".join(TRAIN_FONTS + HELDOUT_FONTS)
        raise FontNotFoundError(f"unknown font {name!r}; available: {valid}")
    return ImageFont.truetype(str(path), max(1, int(size)))


def _text_box(font: ImageFont.FreeTypeFont, text: str) -> tuple[int, int, int, int]:
    return font.getbbox(text)


def _fit_font(name: str, text: str, max_w: float, max_h: float) -> ImageFont.FreeTypeFont:
    """Largest font size whose rendered text fits in (max_w, max_h)."""
    ref = 40
    x0, y0, x1, y1 = _text_box(load_font(name, ref), text)
    w, h = max(1, x1 - x0), max(1, y1 - y0)
    size = int(ref * min(max_w / w, max_h / h))
    return load_font(name, max(4, size))


def _draw_centered(draw: ImageDraw.ImageDraw, box: tuple[float, float, float, float], text: str,
                   font: ImageFont.FreeTypeFont, fill: Color) -> None:
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    draw.text((cx - (x0 + x1) / 2, cy - (y0 + y1) / 2), text, font=font, fill=fill)


def _random_background(size: int, rng: np.random.Generator) -> tuple[Image.Image, Color]:
    """A plain, gradient, noise or striped background and its mean colour."""
    base = rng.integers(0, 256, 3)
    kind = rng.choice(["plain", "plain", "gradient", "noise", "stripes"])
    if kind == "plain":
        arr = np.broadcast_to(base, (size, size, 3)).astype(np.float32)
    elif kind == "gradient":
        other = rng.integers(0, 256, 3)
        t = np.linspace(0, 1, size, dtype=np.float32)[:, None, None]
        arr = base * (1 - t) + other * t
        arr = np.broadcast_to(arr, (size, size, 3)) if rng.random() < 0.5 else arr.transpose(1, 0, 2)
        arr = np.broadcast_to(arr, (size, size, 3))
    elif kind == "noise":
        arr = base + rng.normal(0, 25, (size, size, 3))
    else:
        period = int(rng.integers(4, 16))
        stripe = (np.arange(size) // period) % 2 == 0
        other = np.clip(base + rng.integers(-50, 51, 3), 0, 255)
        arr = np.where(stripe[:, None, None], base, other) * np.ones((1, size, 1))
    arr = np.clip(arr, 0, 255).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(arr)), tuple(int(v) for v in arr.reshape(-1, 3).mean(0))


def _contrasting(bg: Color, rng: np.random.Generator) -> Color:
    """A random colour whose luminance differs from ``bg`` by at least ~90/255."""
    lum = 0.299 * bg[0] + 0.587 * bg[1] + 0.114 * bg[2]
    for _ in range(20):
        c = rng.integers(0, 256, 3)
        if abs(0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] - lum) > 90:
            return tuple(int(v) for v in c)
    return (0, 0, 0) if lum > 127 else (255, 255, 255)


def render_word(word: str, *, size: int = 64, font: str | None = None, fg: Color | None = None,
                bg: Color | None = None, rng: np.random.Generator | None = None) -> Image.Image:
    """Render a word as a square RGB image.

    Without ``rng`` the rendering is deterministic: the word centred, spanning about 85 % of the
    width, ``fg`` (black) on ``bg`` (white) in ``font`` (DejaVuSans-Bold). With ``rng`` every call
    is a fresh rendering for training: a random training font (unless ``font`` is given), a
    plain/gradient/noise/striped background, a contrasting colour, a text height of at least 14 %
    of the image, a width of 35-95 %, a random position and, 30 % of the time, a rotation of up to
    12 degrees.

    Args:
        word: the text.
        size: side of the square image in pixels.
        font: font name; see ``TRAIN_FONTS`` and ``HELDOUT_FONTS``.
        fg: text colour (RGB).
        bg: background colour (RGB); with ``rng`` and no ``bg`` a random background is drawn.
        rng: a numpy Generator for randomised rendering.

    Returns:
        The (size, size) RGB image.
    """
    if rng is None:
        img = Image.new("RGB", (size, size), bg or (255, 255, 255))
        fnt = _fit_font(font or DEFAULT_FONT, word, 0.85 * size, 0.6 * size)
        _draw_centered(ImageDraw.Draw(img), (0, 0, size, size), word, fnt, fg or (0, 0, 0))
        return img
    name = font or str(rng.choice(TRAIN_FONTS))
    if bg is None:
        img, mean_bg = _random_background(size, rng)
    else:
        img, mean_bg = Image.new("RGB", (size, size), bg), bg
    colour = fg or _contrasting(mean_bg, rng)
    width = rng.uniform(0.35, 0.95) * size
    fnt = _fit_font(name, word, width, 0.7 * size)
    x0, y0, x1, y1 = _text_box(fnt, word)
    if y1 - y0 < 0.14 * size:  # short glyphs (e.g. "cat" in a wide font): grow to the minimum
        fnt = _fit_font(name, word, 0.98 * size, max(0.14 * size, y1 - y0))
        x0, y0, x1, y1 = _text_box(fnt, word)
    tw, th = x1 - x0, y1 - y0
    left = rng.uniform(0, max(0.0, size - tw))
    top = rng.uniform(0, max(0.0, size - th))
    if rng.random() < 0.3:
        layer = Image.new("L", (size, size), 0)
        ImageDraw.Draw(layer).text((left - x0, top - y0), word, font=fnt, fill=255)
        layer = layer.rotate(float(rng.uniform(-12, 12)), resample=Image.Resampling.BILINEAR,
                             center=(left + tw / 2, top + th / 2))
        img.paste(Image.new("RGB", (size, size), colour), (0, 0), layer)
    else:
        ImageDraw.Draw(img).text((left - x0, top - y0), word, font=fnt, fill=colour)
    return img


def _label_box(img_w: int, img_h: int, text: str, font: str, area_frac: float
               ) -> tuple[float, float, ImageFont.FreeTypeFont]:
    """Box size (w, h) of about ``area_frac`` of the image, shaped to the text, and its font."""
    x0, y0, x1, y1 = _text_box(load_font(font, 40), text)
    tw, th = max(1, x1 - x0), max(1, y1 - y0)
    pad = 0.25 * th
    aspect = (tw + 2 * pad) / (th + 2 * pad)
    area = area_frac * img_w * img_h
    box_h = math.sqrt(area / aspect)
    box_w = aspect * box_h
    if box_w > img_w:  # too wide: full width, taller box
        box_w, box_h = float(img_w), min(float(img_h), area / img_w)
    scale = box_h / (th + 2 * pad)
    fnt = _fit_font(font, text, box_w - 2 * pad * scale, box_h - 2 * pad * scale)
    return box_w, box_h, fnt


Box = tuple[int, int, int, int]  # (left, top, right, bottom), inclusive, as PIL's rectangle takes it


def label_geometry(size: tuple[int, int], text: str, *, area_frac: float,
                   position: str | tuple[float, float] = "center", font: str = DEFAULT_FONT,
                   rng: np.random.Generator | None = None) -> tuple[Box, ImageFont.FreeTypeFont]:
    """Where ``overlay_label`` puts its box on a picture of ``size`` (w, h), and the font it writes in.

    Raises:
        CoreError: if ``area_frac`` is out of range or ``position`` is unknown.
    """
    if not 0 < area_frac <= 1:
        raise CoreError(f"area_frac must be in (0, 1], got {area_frac}")
    w, h = size
    box_w, box_h, fnt = _label_box(w, h, text, font, area_frac)
    if isinstance(position, tuple):
        left, top = position[0] * w, position[1] * h
    elif position == "center":
        left, top = (w - box_w) / 2, (h - box_h) / 2
    elif position == "top":
        left, top = (w - box_w) / 2, 0.04 * h
    elif position == "bottom":
        left, top = (w - box_w) / 2, h - box_h - 0.04 * h
    elif position == "random" and rng is not None:
        left, top = rng.uniform(0, w - box_w), rng.uniform(0, h - box_h)
    else:
        raise CoreError(f"unknown label position {position!r}; valid: center, top, bottom, "
                        "random (with rng), or an (x, y) tuple of fractions")
    left, top = max(0.0, min(left, w - box_w)), max(0.0, min(top, h - box_h))
    return (round(left), round(top), round(left + box_w) - 1, round(top + box_h) - 1), fnt


def overlay_label(image: Image.Image, text: str, *, area_frac: float,
                  position: str | tuple[float, float] = "center", font: str = DEFAULT_FONT,
                  fg: Color = (0, 0, 0), bg: Color = (255, 255, 255),
                  rng: np.random.Generator | None = None) -> tuple[Image.Image, float]:
    """Stick a label (a filled box with the text) onto a picture.

    Args:
        image: the picture (converted to RGB; the input is not modified).
        text: the label's text.
        area_frac: target box area as a fraction of the image area (0 < area_frac <= 1).
        position: ``"center"``, ``"top"``, ``"bottom"``, ``"random"`` (needs ``rng``) or the box's
            top-left corner as fractions (x, y) of the image size.
        font: font name; fg/bg: text and box colours.
        rng: numpy Generator used by ``position="random"``.

    Returns:
        (labelled RGB image, pixel cover = fraction of pixels whose colour changed).

    Raises:
        CoreError: if ``area_frac`` is out of range or ``position`` is unknown.
    """
    base = image.convert("RGB")
    box, fnt = label_geometry(base.size, text, area_frac=area_frac, position=position, font=font, rng=rng)
    return _boxed_text(base, box, text, fnt, fg, bg)


def _boxed_text(base: Image.Image, box: Box, text: str, fnt: ImageFont.FreeTypeFont, fg: Color, bg: Color
                ) -> tuple[Image.Image, float]:
    out = base.copy()
    draw = ImageDraw.Draw(out)
    draw.rectangle(box, fill=bg)
    if text:
        _draw_centered(draw, box, text, fnt, fg)
    return out, pixel_cover(base, out)


def band_geometry(size: tuple[int, int], text: str, *, height_frac: float, edge: str = "bottom",
                  font: str = DEFAULT_FONT) -> tuple[Box, ImageFont.FreeTypeFont]:
    """A full-width band along the top or bottom edge, ``height_frac`` of the picture high, and its font."""
    if not 0 < height_frac <= 1 or edge not in ("top", "bottom"):
        raise CoreError(f"a band needs 0 < height_frac <= 1 and edge top or bottom, got {height_frac}, {edge!r}")
    w, h = size
    band_h = max(1, round(height_frac * h))
    top = 0 if edge == "top" else h - band_h
    pad = 0.12 * band_h
    return (0, top, w - 1, top + band_h - 1), _fit_font(font, text or "x", w - 2 * pad, band_h - 2 * pad)


def overlay_band(image: Image.Image, text: str, *, height_frac: float, edge: str = "bottom",
                 font: str = DEFAULT_FONT, fg: Color = (0, 0, 0), bg: Color = (255, 255, 255)
                 ) -> tuple[Image.Image, float]:
    """A band along one edge with the text centred in it; ``text=""`` draws the blank band.

    Returns:
        (RGB image, pixel cover).
    """
    base = image.convert("RGB")
    box, fnt = band_geometry(base.size, text, height_frac=height_frac, edge=edge, font=font)
    return _boxed_text(base, box, text, fnt, fg, bg)


def overlay_blank_label(image: Image.Image, box: Box, *, bg: Color = (255, 255, 255)) -> tuple[Image.Image, float]:
    """The blank control of a label or band: the same box, filled, with no text."""
    base = image.convert("RGB")
    return _boxed_text(base, box, "", load_font(DEFAULT_FONT, 8), (0, 0, 0), bg)


def overlay_article_pattern(image: Image.Image, text: str, *, font: str = DEFAULT_FONT,
                            text_height_frac: float = 0.07, fg: Color = (255, 255, 255),
                            outline: Color = (0, 0, 0),
                            spots: Sequence[tuple[float, float]] = ARTICLE_SPOTS
                            ) -> tuple[Image.Image, float]:
    """The article's automated attack: the text drawn 8 times at 8 fixed spots in one font.

    Args:
        image: the picture (not modified).
        text: the attack text.
        font: one font for all copies.
        text_height_frac: glyph height as a fraction of the image height.
        fg, outline: text colour and an outline (1 px per 256 px of image) so the text shows on any background.
        spots: top-left corners as (x, y) fractions of the image size.

    Returns:
        (attacked RGB image, pixel cover = fraction of pixels changed).
    """
    base = image.convert("RGB")
    w, h = base.size
    fnt = load_font(font, max(5, round(text_height_frac * h / 0.72)))
    out = base.copy()
    draw = ImageDraw.Draw(out)
    stroke = round(h / 256)  # no outline on tiny images: it would double the cover
    for fx, fy in spots:
        draw.text((fx * w, fy * h), text, font=fnt, fill=fg, stroke_width=stroke, stroke_fill=outline)
    return out, pixel_cover(base, out)


def article_pattern_blank(image: Image.Image, text: str, *, font: str = DEFAULT_FONT,
                          text_height_frac: float = 0.07, fg: Color = (255, 255, 255),
                          outline: Color = (0, 0, 0),
                          spots: Sequence[tuple[float, float]] = ARTICLE_SPOTS
                          ) -> tuple[Image.Image, float, list[Box]]:
    """The blank control of ``overlay_article_pattern``: at each spot, inside the box of that copy of the text,
    a bar of the text's colour and outline, as high as the box and as long as needed to change as many pixels
    as the copy does. Same spots, same height, about the same cover, no letters.

    Returns:
        (RGB image, pixel cover, the copies' text boxes).
    """
    base = image.convert("RGB")
    w, h = base.size
    fnt = load_font(font, max(5, round(text_height_frac * h / 0.72)))
    stroke = round(h / 256)
    out, boxes = base.copy(), []
    for fx, fy in spots:
        one = base.copy()
        ImageDraw.Draw(one).text((fx * w, fy * h), text, font=fnt, fill=fg, stroke_width=stroke,
                                 stroke_fill=outline)
        x0, y0, x1, y1 = ImageDraw.Draw(one).textbbox((fx * w, fy * h), text, font=fnt, stroke_width=stroke)
        x0, y0, x1, y1 = max(0, math.floor(x0)), max(0, math.floor(y0)), min(w, math.ceil(x1)), min(h, math.ceil(y1))
        if x1 <= x0 or y1 <= y0:
            continue
        boxes.append((x0, y0, x1 - 1, y1 - 1))
        changed = int(np.any(np.asarray(one) != np.asarray(base), axis=-1).sum())
        bar_w = min(x1 - x0, max(1, changed // (y1 - y0)))
        ImageDraw.Draw(out).rectangle((x0, y0, x0 + bar_w - 1, y1 - 1), fill=fg, outline=outline if stroke else None,
                                      width=max(1, stroke))
    return out, pixel_cover(base, out), boxes


def pixel_cover(before: Image.Image, after: Image.Image) -> float:
    """Fraction of pixels whose RGB value differs between two same-size images (the article's L0)."""
    a = np.asarray(before.convert("RGB"))
    b = np.asarray(after.convert("RGB"))
    return float(np.any(a != b, axis=-1).mean())

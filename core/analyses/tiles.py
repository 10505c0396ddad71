"""Dataset-example tiles: the picture as the model sees it (centre crop), its most-activating cell outlined,
rendered at the size shown, captioned in std-devs from zero with the raw value on hover."""
from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
from PIL import Image, ImageDraw, ImageOps

from core.pipeline.images import BadImageError, open_image

if TYPE_CHECKING:
    from core.pipeline.store import Artifact

TILE_PX = 128  # the article's dataset-example tiles are 128 px
OUTLINE = (255, 140, 0)
MISSING_FILL = (224, 224, 224)


def collection_picture(art: Artifact, row: int) -> Image.Image | None:
    """The picture of ``row`` as an RGB image, or None when its file is gone or unreadable (a collection moved
    without its pictures, a file deleted or corrupted since indexing): views then draw ``missing_tile``."""
    try:
        return open_image(art.image_path(int(row)), within=art.root)
    except BadImageError:
        return None


def missing_tile(size: int = TILE_PX) -> Image.Image:
    """A grey square with "no picture" written on it, drawn where a collection picture cannot be read."""
    tile = Image.new("RGB", (size, size), MISSING_FILL)
    draw = ImageDraw.Draw(tile)
    draw.line((0, 0, size - 1, size - 1), fill=(200, 200, 200), width=1)
    draw.line((0, size - 1, size - 1, 0), fill=(200, 200, 200), width=1)
    text = "no picture"
    box = draw.textbbox((0, 0), text)
    draw.rectangle(((size - box[2]) // 2 - 3, (size - box[3]) // 2 - 2, (size + box[2]) // 2 + 3,
                    (size + box[3]) // 2 + 3), fill=MISSING_FILL)
    draw.text(((size - box[2]) // 2, (size - box[3]) // 2), text, fill=(90, 90, 90))
    return tile


def model_view(image: Image.Image, size: int = TILE_PX) -> Image.Image:
    """The square the model sees (shorter side resized, centre crop, as open_clip's eval transform)."""
    return ImageOps.fit(image.convert("RGB"), (size, size), method=Image.Resampling.BICUBIC, centering=(0.5, 0.5))


def cell_box(flat: int, grid: Sequence[int], size: int, *, offset: int = 0) -> tuple[int, int, int, int] | None:
    """Pixel box of an activation-grid cell on a ``size`` x ``size`` model-view tile.

    Args:
        flat: the flat argmax position (``h * W + w``; for token layers the token index).
        grid: (H, W) of the activation map.
        size: tile side in pixels.
        offset: leading positions that are not cells (1 for a ViT class token).

    Returns:
        (x0, y0, x1, y1), or None when the position is not a spatial cell (e.g. the class token).
    """
    h, w = int(grid[0]), int(grid[1])
    idx = int(flat) - offset
    if h <= 0 or w <= 0 or not 0 <= idx < h * w:
        return None
    r, c = divmod(idx, w)
    return (round(c * size / w), round(r * size / h), round((c + 1) * size / w) - 1, round((r + 1) * size / h) - 1)


def outlined_tile(image: Image.Image, flat: int | None, grid: Sequence[int] | None, *, size: int = TILE_PX,
                  offset: int = 0) -> Image.Image:
    """A dataset-example tile: the model's view of ``image`` with the most-activating cell outlined."""
    tile = model_view(image, size)
    box = cell_box(flat, grid, size, offset=offset) if flat is not None and grid else None
    if box is not None:
        ImageDraw.Draw(tile).rectangle(box, outline=OUTLINE, width=max(2, size // 64))
    return tile


@dataclass(frozen=True)
class Grid:
    """Dataset-example tiles: the rows shown, their JPEG bytes, one caption per tile and (optionally) one hover
    text per tile."""

    rows: tuple[int, ...]
    tiles: tuple[bytes, ...]
    captions: tuple[str, ...]
    width: int
    titles: tuple[str, ...] = ()


def render_tiles(art: Artifact, rows, argmax, size: int = TILE_PX) -> list[bytes]:
    """``size``-px tiles (JPEG bytes) of ``rows``, the most-activating cell outlined when ``argmax`` is given.

    Encoded bytes at the size they are shown: fewer bytes for the browser to parse and decode on every switch.
    """
    grid = art.grid if argmax is not None and len(art.grid) == 2 else None
    offset = 1 if art.manifest.get("layout") == "BLD" else 0  # token layers: position 0 is the class token
    out = []
    for i, row in enumerate(rows):
        picture = collection_picture(art, row)
        img = missing_tile(size) if picture is None else outlined_tile(picture, argmax[i] if grid else None, grid,
                                                                       size=size, offset=offset)
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=85)
        out.append(buf.getvalue())
    return out


SIGMA = "σ"  # the suffix of a value in standard deviations from zero


def captions(df: pd.DataFrame, column: str = "value", suffix: str = "") -> list[str]:
    """Tile captions: the row's label (if any) and its ``column`` value (3 significant digits for floats, then
    ``suffix``, e.g. ``SIGMA``)."""
    labels = df["label"].fillna("").astype(str) if "label" in df else pd.Series([""] * len(df))
    return [f"{lab} {v:+.3g}{suffix}".strip() if isinstance(v, float) else f"{lab} {v}".strip()
            for lab, v in zip(labels, df[column].tolist())]


def sigma_titles(df: pd.DataFrame, z: str = "z") -> list[str]:
    """Hover texts of tiles captioned in std-devs from zero: both numbers, named."""
    return [f"{zv:+.2f} std-devs from zero; raw activation {v:+.3f} (pre-ReLU spatial max)"
            for zv, v in zip(df[z].tolist(), df["value"].tolist())]


def grid(art: Artifact, df: pd.DataFrame, *, outline: bool = True, width: int = 110) -> Grid:
    """The tiles of the rows of ``df`` (columns row, value, z, label; argmax when outlined), captioned in
    std-devs from zero with the raw value on hover."""
    rows = tuple(int(r) for r in df["row"])
    argmax = tuple(int(a) for a in df["argmax"]) if outline else None
    return Grid(rows, tuple(render_tiles(art, rows, argmax, width)), tuple(captions(df, "z", SIGMA)), width,
                tuple(sigma_titles(df)))

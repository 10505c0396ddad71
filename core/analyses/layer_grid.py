"""A layer at a glance (OpenAI Microscope's grid) and the article's dataset-example view.

- ``argmax_crop``: a dataset example as a crop of the model's view centred on the unit's most-activating cell
  (the article's dataset examples), ``zoom`` times closer than the whole picture;
- ``top_examples``: a unit's top rows as such crops (48 by default: the article shows many);
- ``layer_frame``: every unit of a layer with its top example (row, key, label, value, argmax), a page at a time;
- ``units_for_query``: the units a text query keeps (a unit number, the article's names, zero-shot neuron search).

No streamlit; image work with PIL only.
"""
from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pandas as pd
from PIL import Image

from core.analyses.neuron_card import rows_frame
from core.analyses.tiles import TILE_PX, cell_box, collection_picture, missing_tile, model_view
from core.errors import BadInputError

ZOOMS = (1, 2, 3, 4)
MAX_EXAMPLES = 48
PER_PAGE = (24, 48, 96)


def crop_box(flat: int | None, grid: Sequence[int] | None, side: int, zoom: float, *,
             offset: int = 0) -> tuple[int, int, int, int]:
    """A square of ``side / zoom`` pixels centred on cell ``flat`` of a ``side``-px view, kept inside the view
    (the view's centre when the position is no cell, e.g. a class token)."""
    if not 1 <= float(zoom) <= 8:
        raise BadInputError(f"Zoom must be between 1 and 8 (got {zoom}).")
    crop = max(1, round(side / float(zoom)))
    box = cell_box(flat, grid, side, offset=offset) if flat is not None and grid else None
    cx, cy = ((box[0] + box[2] + 1) / 2, (box[1] + box[3] + 1) / 2) if box else (side / 2, side / 2)
    x0 = int(min(max(round(cx - crop / 2), 0), side - crop))
    y0 = int(min(max(round(cy - crop / 2), 0), side - crop))
    return x0, y0, x0 + crop, y0 + crop


def argmax_crop(image: Image.Image, flat: int | None, grid: Sequence[int] | None, *, size: int = TILE_PX,
                zoom: float = 2, offset: int = 0) -> Image.Image:
    """``size``-px crop of the model's view of ``image``, centred on the most-activating cell, ``zoom`` x closer."""
    side = max(size * int(np.ceil(zoom)), size)
    view = model_view(image, side)
    return view.crop(crop_box(flat, grid, side, zoom, offset=offset)).resize((size, size), Image.Resampling.LANCZOS)


def crop_tiles(art, rows: Sequence[int], argmax: Sequence[int], *, size: int = TILE_PX, zoom: float = 2) -> list[bytes]:
    """JPEG bytes of the argmax-centred crops of ``rows`` (``argmax`` per row, flat positions)."""
    grid = art.grid if len(art.grid) == 2 else None
    offset = 1 if art.manifest.get("layout") == "BLD" else 0
    out = []
    for row, flat in zip(rows, argmax):
        buf = io.BytesIO()
        picture = collection_picture(art, int(row))
        tile = missing_tile(size) if picture is None else argmax_crop(picture, int(flat), grid, size=size, zoom=zoom,
                                                                      offset=offset)
        tile.save(buf, format="JPEG", quality=88)
        out.append(buf.getvalue())
    return out


def top_examples(art, unit: int, k: int = MAX_EXAMPLES) -> pd.DataFrame:
    """The ``k`` (at most the collection) top examples of ``unit``: row, key, label, value, argmax, rank."""
    k = min(max(1, int(k)), art.rows)
    df = rows_frame(art, [int(r) for r in art.top_rows(int(unit), k)], int(unit))
    return df.assign(rank=np.arange(1, len(df) + 1))


def page_count(n: int, per_page: int) -> int:
    return max(1, -(-int(n) // max(1, int(per_page))))


def page_of(units: Sequence[int], page: int, per_page: int) -> list[int]:
    """Units of 1-based ``page`` (clamped to the pages there are)."""
    page = min(max(1, int(page)), page_count(len(units), per_page))
    return [int(u) for u in units[(page - 1) * per_page: page * per_page]]


def layer_frame(art, units: Sequence[int]) -> pd.DataFrame:
    """One row per unit: unit, row (its top example), key, label, value, argmax."""
    units = [int(u) for u in units]
    rows = [int(art.top_rows(u, 1)[0]) for u in units]
    idx = np.asarray(rows, np.int64)
    cols = np.asarray(units, np.int64)
    labels = art.labels
    return pd.DataFrame({"unit": cols, "row": idx, "key": [art.keys[r] for r in rows],
                         "label": [labels[r] for r in rows] if labels is not None else [""] * len(rows),
                         "value": np.asarray(art.max[idx, cols], np.float32) if rows else [],
                         "argmax": np.asarray(art.argmax[idx, cols], np.int64) if rows else []})


def units_for_query(query: str, units: int, *, names: dict[int, str] | None = None,
                    ranked: Sequence[int] | None = None) -> list[int]:
    """The units a query keeps, in order: a unit number alone gives that unit; else the units whose article name
    contains the query (``names``), then ``ranked`` (zero-shot neuron search's order). Empty query: every unit."""
    q = " ".join(str(query or "").split()).lower()
    if not q:
        return list(range(int(units)))
    if q.isascii() and q.isdigit() and len(q) <= 12:
        return [int(q)] if int(q) < units else []
    named = sorted(u for u, n in (names or {}).items() if q in str(n).lower() and 0 <= u < units)
    seen = set(named)
    return named + [int(u) for u in (ranked or []) if int(u) not in seen and not seen.add(int(u))]

"""PNGs that say where they came from: the model fingerprint, layer, unit, objective and seed as PNG text chunks.

Every feature-visualization picture this project writes (the CLI ``render``, the dashboard's pictures and their
downloads) goes through ``png_bytes`` / ``save_png``; ``read_provenance`` reads the chunks back. Keys are prefixed
``clip-explorer:`` so they never collide with other tools' chunks. No streamlit.
"""
from __future__ import annotations

import io
import re
from collections.abc import Mapping
from pathlib import Path

from PIL import Image, PngImagePlugin

PREFIX = "clip-explorer:"
FIELDS = ("model", "fingerprint", "layer", "unit", "objective", "seed")
_UNIT_IN_NAME = re.compile(r"^[a-z_]+\(([^()\s,:]+):(\d+)[)@]")


def provenance(loaded, objective: str, seed: int, *, layer: str | None = None, unit: int | None = None,
               **extra) -> dict[str, str]:
    """The text chunks of a render: model id and fingerprint, layer, unit, objective name, seed (+ ``extra``).

    ``layer``/``unit`` default to the ones the objective's name starts with (``channel(LAYER:UNIT)``,
    ``faceted(channel(LAYER:UNIT), ...)``...).
    """
    if layer is None or unit is None:
        m = _UNIT_IN_NAME.match(str(objective).removeprefix("faceted("))
        if m:
            layer = layer if layer is not None else m.group(1)
            unit = unit if unit is not None else int(m.group(2))
    info = {"model": getattr(loaded, "id", str(loaded)), "fingerprint": getattr(loaded, "fingerprint", ""),
            "layer": "" if layer is None else str(layer), "unit": "" if unit is None else str(int(unit)),
            "objective": str(objective), "seed": str(int(seed))}
    info |= {str(k): str(v) for k, v in extra.items() if v is not None}
    return info


def _pnginfo(info: Mapping[str, str]) -> PngImagePlugin.PngInfo:
    chunks = PngImagePlugin.PngInfo()
    for key, value in info.items():
        chunks.add_itxt(PREFIX + key, str(value))  # iTXt: UTF-8, any objective name
    chunks.add_text("Software", "CLIP neuron explorer")
    return chunks


def png_bytes(image: Image.Image, info: Mapping[str, str] | None = None) -> bytes:
    """``image`` as PNG bytes carrying ``info`` (``provenance(...)``) as text chunks."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=_pnginfo(info or {}))
    return buf.getvalue()


def save_png(path: str | Path, image: Image.Image, info: Mapping[str, str] | None = None) -> Path:
    """Write ``image`` to ``path`` as a PNG carrying ``info``."""
    path = Path(path)
    image.save(path, format="PNG", pnginfo=_pnginfo(info or {}))
    return path


def read_provenance(source: str | Path | bytes) -> dict[str, str]:
    """The ``clip-explorer:`` text chunks of a PNG (file path or bytes), prefix removed; ``{}`` when none."""
    with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as im:
        im.load()
        text = dict(getattr(im, "text", {}) or {})
    return {k.removeprefix(PREFIX): str(v) for k, v in text.items() if k.startswith(PREFIX)}


def result_png(loaded, result, index: int = 0, **extra) -> bytes:
    """Picture ``index`` of a ``RenderResult`` as PNG bytes with its provenance (steps included)."""
    info = provenance(loaded, result.objective, result.seed, steps=result.steps_done, **extra)
    return png_bytes(result.to_pil()[index], info)

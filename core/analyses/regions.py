"""Region-neuron maps (article §8.2): a unit's response to country and city names and over an unlabelled world map.

For one model and layer, ``layer_regions`` computes, for every unit at once:

* the 175 country names and 620 city names drawn as words (``core.analyses.words``: black on white, two fonts and
  sizes; a name's value is the unit's spatial max averaged over the renderings: the article's "max over word
  positions, mean over font sizes"), cached on disk by the words module;
* the spatial activation over the unlabelled equirectangular world map (``geo.world_map``): the map is cut into
  overlapping square crops at two scales, each crop goes through the image tower, and each unit's activation map
  is resized onto the crop's cells of a 40 x 80 grid and averaged over the crops covering a cell (the article
  averaged random crops; ours is a fixed, evenly covering set, so a map is reproducible). Cached under
  ``<artifacts>/regions/<fingerprint>/``.

So the first unit of a layer pays for the layer; every other unit is a lookup. "Find region neurons" ranks the
units of a layer by how many of their top rastered words are geographic. No streamlit.
"""
from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.analyses import geo
from core.config import get_settings
from core.errors import BadInputError, UnitOutOfRangeError

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
REGIONS_VERSION = 1
CROP_CELLS = (10, 20)  # crop sides in grid cells (a cell is 4.5 degrees): 45 and 90 degrees of longitude
MAP_WIDTH = 1280  # pixels of the drawn world map (16 px per grid cell)


def region_words() -> list[str]:
    """The names scored as words: the 175 countries, then the 620 cities."""
    return geo.country_names() + geo.city_names()


def crops() -> list[tuple[int, int, int]]:
    """(row, col, side) in grid cells of every crop: two scales, stride half a side (126 crops)."""
    h, w = geo.GRID
    return [(r, c, s) for s in CROP_CELLS for r in range(0, h - s + 1, s // 2) for c in range(0, w - s + 1, s // 2)]


def _maps(act):
    """(B, C, H, W) activation maps from a (B, C, H, W) or token (B, L, D) layer (class token dropped)."""
    if act.dim() == 4:
        return act
    b, n, d = act.shape
    side = int(round((n - 1) ** 0.5))
    tokens = act[:, 1:] if side * side == n - 1 else act
    side = int(round(tokens.shape[1] ** 0.5))
    return tokens[:, : side * side].transpose(1, 2).reshape(b, d, side, side)


def spatial_activations(loaded, layer: str, *, progress: Progress | None = None, batch_size: int = 16) -> np.ndarray:
    """(C, 40, 80) float32: every unit's activation over the world map, averaged over the crops covering a cell."""
    import torch
    import torch.nn.functional as F

    from core.analyses.words import _pixels
    from core.model.hooks import capture

    size, cell = loaded.image_size, MAP_WIDTH // geo.GRID[1]
    picture = geo.world_map(MAP_WIDTH)
    todo = crops()
    total = count = None
    for start in range(0, len(todo), batch_size):
        part = todo[start:start + batch_size]
        images = [picture.crop((c * cell, r * cell, (c + s) * cell, (r + s) * cell)).resize((size, size))
                  for r, c, s in part]
        with torch.inference_mode(), capture(loaded, [layer]) as acts:
            loaded.model.encode_image(_pixels(loaded, images))
        maps = _maps(acts[layer]).float()
        if total is None:
            total = np.zeros((maps.shape[1], *geo.GRID), np.float32)
            count = np.zeros(geo.GRID, np.float32)
        for (r, c, s), m in zip(part, maps):
            up = F.interpolate(m[None], size=(s, s), mode="bilinear", align_corners=False)[0]
            total[:, r:r + s, c:c + s] += up.cpu().numpy()
            count[r:r + s, c:c + s] += 1
        if progress:
            progress(min(start + batch_size, len(todo)), len(todo))
    return total / np.maximum(count, 1)[None]


@dataclass(frozen=True)
class LayerRegions:
    """Every unit's region responses at one layer.

    Attributes:
        layer: layer id.
        country: (175, C) float32 country-name responses.
        city: (620, C) float32 city-name responses.
        spatial: (C, 40, 80) float32 world-map activation.
    """

    layer: str
    country: np.ndarray
    city: np.ndarray
    spatial: np.ndarray

    @property
    def units(self) -> int:
        return int(self.country.shape[1])

    def check(self, unit: int) -> int:
        if not 0 <= int(unit) < self.units:
            raise UnitOutOfRangeError(f"Unit {unit} is out of range: valid units are 0..{self.units - 1}.")
        return int(unit)


def _spatial_file(loaded, layer: str):
    safe = layer.replace("/", "_").replace("@", "-at-")
    return (get_settings().artifacts_dir / "regions" / loaded.fingerprint
            / f"{safe}-v{REGIONS_VERSION}-{MAP_WIDTH}-{'-'.join(map(str, CROP_CELLS))}" / "spatial.f16.npy")


def is_computed(loaded, layer: str) -> bool:
    """Whether a layer's region responses are on disk (then ``layer_regions`` is a quick load)."""
    from core.analyses.words import _cache_dir

    return _spatial_file(loaded, layer).is_file() and (_cache_dir(loaded, layer, region_words()) / "acts.npy").is_file()


def layer_regions(loaded, layer: str | None = None, *, progress: Progress | None = None) -> LayerRegions:
    """Every unit's responses to the names and the world map at ``layer`` (default the article's), cached on disk.

    ``progress(done, total)`` counts names scored plus crops run."""
    from core.analyses.words import word_activations
    from core.featurevis.cache import atomic_write_bytes
    from core.model.hooks import article_layer, resolve_layer

    layer = layer or article_layer(loaded)
    resolve_layer(loaded, layer)
    names = region_words()
    n_crops = len(crops())
    total = len(names) + n_crops
    table = word_activations(loaded, layer, words=names,
                             progress=(lambda d, t: progress(d, total)) if progress else None)
    path = _spatial_file(loaded, layer)
    if path.is_file():
        spatial = np.load(path).astype(np.float32)
    else:
        spatial = spatial_activations(loaded, layer,
                                      progress=(lambda d, t: progress(len(names) + d, total)) if progress else None)
        buf = io.BytesIO()
        np.save(buf, spatial.astype(np.float16))
        atomic_write_bytes(path, buf.getvalue())
        (path.parent / "manifest.json").write_text(json.dumps(
            {"model": loaded.id, "fingerprint": loaded.fingerprint, "layer": layer, "crops": n_crops,
             "map_width": MAP_WIDTH, "crop_cells": CROP_CELLS}))
    if progress:
        progress(total, total)
    n = len(geo.country_names())
    return LayerRegions(layer, table.acts[:n], table.acts[n:], spatial)


# ---------------------------------------------------------------- one or several units as map layers --------------
def unit_frames(lr: LayerRegions, units: list[int]) -> dict[str, pd.DataFrame]:
    """The map's three layers for ``units`` (coloured by the article's rule, ``geo.hue_colours``). Names are scaled
    0..1 over each unit's countries (or cities), as the article's files; map cells 0..1 above the unit's median cell.

    Returns:
        ``{"countries": [index, name, continent, colour, u<unit>... raw, n<unit>... 0..1],
        "cities": [name, lon, lat, colour, ...], "cells": [row, col, lon0, lat0, lon1, lat1, colour, ...]}``.
    """
    units = [lr.check(u) for u in units]
    if not units:
        raise BadInputError("Pick at least one unit to map.")
    pos = geo.city_positions()
    frames = {"countries": pd.DataFrame({"index": np.arange(lr.country.shape[0]), "name": geo.country_names(),
                                         "continent": [geo.continent_of(c) for c in geo.country_names()]}),
              "cities": pd.DataFrame({"name": geo.city_names(), "lon": pos[:, 0], "lat": pos[:, 1]}),
              "cells": pd.DataFrame(geo.grid_cells())}
    raw = {"countries": lr.country[:, units].T, "cities": lr.city[:, units].T,
           "cells": lr.spatial[units].reshape(len(units), -1)}
    for name, df in frames.items():
        norm = geo.normalize(raw[name]) if name != "cells" else _above_median(raw[name])
        df["colour"] = geo.hue_colours(norm)
        df["strength"] = norm.max(axis=0)
        for i, u in enumerate(units):
            df[f"u{u}"] = raw[name][i].astype(np.float64)
            df[f"n{u}"] = norm[i]
    return frames


def _above_median(values: np.ndarray) -> np.ndarray:
    """(K, R) -> each row's excess over its median, as a share of (max - median): the world map shows where a unit
    responds more than it typically does over the map, not the broad level every crop has."""
    v = np.asarray(values, dtype=np.float64)
    med, hi = np.median(v, axis=1, keepdims=True), v.max(axis=1, keepdims=True)
    return np.clip((v - med) / np.where(hi > med, hi - med, 1.0), 0.0, 1.0)


def top_regions(lr: LayerRegions, unit: int, k: int = 10) -> pd.DataFrame:
    """The ``k`` countries and cities whose names excite ``unit`` most: kind, name, value."""
    unit = lr.check(unit)
    rows = [("country", n, float(v)) for n, v in zip(geo.country_names(), lr.country[:, unit])]
    rows += [("city", n, float(v)) for n, v in zip(geo.city_names(), lr.city[:, unit])]
    df = pd.DataFrame(rows, columns=["kind", "name", "value"])
    return df.nlargest(k, "value").reset_index(drop=True)


# ---------------------------------------------------------------- find region neurons -------------------------------
def geographic_ranking(acts: np.ndarray, words: list[str], *, k: int = 5) -> pd.DataFrame:
    """Rank units by how geographic their top-``k`` words are (the article: all top-5 geographic, 2.5 % of RN50x4).

    Args:
        acts: (V, C) word activations (mean-subtracted per unit here, as the article's word rasters).
        words: the V words.
        k: how many top words count.

    Returns:
        DataFrame[unit, geographic (of k), all_geographic, top_words, margin] sorted by geographic count, then by
        ``margin`` (the mean score of the unit's geographic words minus the vocabulary mean, in std-devs).
    """
    acts = np.asarray(acts, dtype=np.float32)
    if acts.shape[0] != len(words):
        raise BadInputError(f"{acts.shape[0]} activation rows for {len(words)} words.")
    k = max(1, min(int(k), len(words)))
    z = (acts - acts.mean(0)) / (acts.std(0) + 1e-8)
    is_geo = np.asarray([geo.is_geographic(w) for w in words])
    top = np.argpartition(-z, k - 1, axis=0)[:k]  # (k, C)
    order = np.take_along_axis(z, top, 0).argsort(0)[::-1]
    top = np.take_along_axis(top, order, 0)
    count = is_geo[top].sum(0)
    margin = np.where(is_geo[:, None], z, -np.inf).max(0)
    df = pd.DataFrame({"unit": np.arange(acts.shape[1]), "geographic": count, "all_geographic": count == k,
                       "top_words": [", ".join(words[i] for i in top[:, u]) for u in range(acts.shape[1])],
                       "margin": np.where(np.isfinite(margin), margin, 0.0)})
    return df.sort_values(["geographic", "margin"], ascending=False, kind="stable").reset_index(drop=True)


def find_region_neurons(loaded, layer: str | None = None, *, k: int = 5, progress: Progress | None = None
                        ) -> pd.DataFrame:
    """``geographic_ranking`` over the shipped vocabulary plus the shipped place names (both scored and cached)."""
    from core.analyses.words import word_activations
    from core.model.hooks import article_layer

    layer = layer or article_layer(loaded)
    vocab = word_activations(loaded, layer, progress=progress)
    names = word_activations(loaded, layer, words=region_words())
    seen = {w.lower() for w in vocab.words}
    extra = [i for i, w in enumerate(names.words) if w.lower() not in seen and not seen.add(w.lower())]
    words = list(vocab.words) + [names.words[i] for i in extra]
    return geographic_ranking(np.concatenate([vocab.acts, names.acts[extra]]), words, k=k)


def summary(ranking: pd.DataFrame, k: int = 5) -> dict:
    """How many units have all their top-``k`` words geographic, and their share of the layer."""
    n = int(ranking["all_geographic"].sum())
    return {"units": int(len(ranking)), "all_geographic": n, "share": n / max(len(ranking), 1), "k": k}

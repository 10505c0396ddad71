"""The shipped geography of the region-neuron maps: country polygons, cities, the article's published responses,
the geographic vocabulary, the unlabelled world map picture and the article's colouring rule.

Data: ``assets/regional/`` (the article's figure data, CC-BY 4.0, see its README; ``geo_extra.json`` is ours:
continents and demonyms). Pure numpy/PIL: no torch, no network, no UI.
"""
from __future__ import annotations

import colorsys
import functools
import json
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from core.config import ASSETS_DIR
from core.errors import CoreError

REGION_DIR = ASSETS_DIR / "regional"
ATTRIBUTION = ("Map data and published responses: Goh et al., Multimodal Neurons in Artificial Neural Networks, "
               "Distill 2021 (CC-BY 4.0)")
GRID = (40, 80)  # the article's spatial grid over the equirectangular map (rows = latitude, cols = longitude)
# The article's model slugs (paper-methods §1.1) and the open_clip architectures they correspond to.
SLUG_ARCH = {"contrastive_4x": "RN50x4", "contrastive_rn50": "RN50", "contrastive_v1": None, "contrastive_v2": None}
LAND, SEA, BORDER = (196, 184, 150), (168, 200, 224), (90, 90, 90)


class RegionDataMissingError(CoreError):
    """The shipped region data (assets/regional/) is missing."""


def _path(name: str):
    p = REGION_DIR / name
    if not p.is_file():
        raise RegionDataMissingError(f"{p} is missing; restore it from git (`git checkout -- assets/regional`).")
    return p


@functools.lru_cache(maxsize=1)
def geo() -> dict:
    """``{"countries": [GeoJSON features ordered by index], "cities": [{name, index, pos: [lon, lat]}]}``."""
    data = json.loads(_path("geo.json").read_text(encoding="utf-8"))
    return {"countries": sorted(data["countries"], key=lambda f: f["properties"]["index"]),
            "cities": sorted(data["cities"], key=lambda c: c["index"])}


@functools.lru_cache(maxsize=1)
def extra() -> dict:
    """Our additions: continent of each country, continent/region names, demonyms."""
    return json.loads(_path("geo_extra.json").read_text(encoding="utf-8"))


def country_names() -> list[str]:
    """The 175 country names, in the column order of the article's ``country.npy``."""
    return [f["properties"]["name"] for f in geo()["countries"]]


def city_names() -> list[str]:
    """The 620 city names, in the column order of ``city.npy``."""
    return [c["name"] for c in geo()["cities"]]


def city_positions() -> np.ndarray:
    """(620, 2) longitude, latitude of each city."""
    return np.asarray([c["pos"] for c in geo()["cities"]], dtype=np.float32)


def continent_of(country: str) -> str:
    return extra()["continent_of_country"].get(country, "")


@functools.lru_cache(maxsize=1)
def geographic_vocabulary() -> frozenset[str]:
    """Lower-cased geographic words: countries, cities, continents and regions, demonyms (the article's list also
    had provinces and currencies, which are not shipped)."""
    ex = extra()
    words = {w.lower() for w in country_names() + city_names()}
    words |= {w.lower() for w in ex["continents"]} | {d.lower() for d in ex["demonyms"].values()}
    words |= {w.lower() for w in ex["extra_demonyms"]}
    words |= {"usa", "america", "uk", "england", "britain", "korea", "congo"}  # the short forms people write
    return frozenset(words)


def is_geographic(word: str) -> bool:
    return word.strip().lower() in geographic_vocabulary()


# ---------------------------------------------------------------- the article's published responses ---------------
@dataclass(frozen=True)
class Published:
    """The article's figure data: 66 units of four models (values scaled 0-254)."""

    units: list[tuple[str, int]]  # (model slug, unit)
    country: np.ndarray  # (66, 175) uint8
    city: np.ndarray  # (66, 620) uint8
    spatial: np.ndarray  # (66, 40, 80) uint8
    top_words: list[list[str]]

    def rows(self, slug: str) -> list[int]:
        """Rows of the units of one model (``contrastive_4x`` = RN50x4, ``contrastive_rn50`` = RN50)."""
        return [i for i, (s, _) in enumerate(self.units) if s == slug]


@functools.lru_cache(maxsize=1)
def published() -> Published:
    units = [(str(s), int(u)) for s, u in json.loads(_path("units.json").read_text())]
    return Published(units, np.load(_path("country.npy")), np.load(_path("city.npy")),
                     np.load(_path("spatial.npy")), json.loads(_path("top_words.json").read_text()))


def slug_for_arch(arch: str) -> str | None:
    """The article's slug of an open_clip architecture name (``RN50x4`` -> ``contrastive_4x``), else None."""
    base = arch.split("/")[0].split("@")[0].lower().removesuffix("-quickgelu")
    return next((s for s, a in SLUG_ARCH.items() if a and a.lower() == base), None)


def rank(x: np.ndarray) -> np.ndarray:
    """Ranks (0-based) with ties averaged, along the last axis of a 1-D array."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x), np.float64)
    ranks[order] = np.arange(len(x))
    _, inv, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=ranks)
    return (sums / counts)[inv]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two equal-length vectors (0.0 when either is constant)."""
    ra, rb = rank(a), rank(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = float(np.sqrt((ra ** 2).sum() * (rb ** 2).sum()))
    return float((ra * rb).sum() / den) if den > 0 else 0.0


# ---------------------------------------------------------------- the unlabelled world map -------------------------
def _rings(geometry: dict) -> list[list[list[float]]]:
    if geometry["type"] == "Polygon":
        return [geometry["coordinates"][0]]
    return [poly[0] for poly in geometry["coordinates"]]


@functools.lru_cache(maxsize=2)
def world_map(width: int = 1280) -> Image.Image:
    """An unlabelled equirectangular world map drawn from the shipped polygons: land, sea and borders, no text.

    ``width`` x ``width / 2`` pixels spanning longitude -180..180 and latitude 90..-90.
    """
    height = width // 2
    img = Image.new("RGB", (width, height), SEA)
    draw = ImageDraw.Draw(img)
    line = max(1, width // 640)
    for feature in geo()["countries"]:
        for ring in _rings(feature["geometry"]):
            pts = [((lon + 180) / 360 * width, (90 - lat) / 180 * height) for lon, lat in ring]
            if len(pts) >= 3:
                draw.polygon(pts, fill=LAND, outline=BORDER, width=line)
    return img


def grid_cells() -> list[dict]:
    """The 40 x 80 spatial grid as rows of {row, col, lon0, lat0, lon1, lat1}, row-major."""
    h, w = GRID
    return [{"row": r, "col": c, "lon0": -180 + 360 * c / w, "lon1": -180 + 360 * (c + 1) / w,
             "lat0": 90 - 180 * (r + 1) / h, "lat1": 90 - 180 * r / h} for r in range(h) for c in range(w)]


# ---------------------------------------------------------------- the article's colouring rule ---------------------
def normalize(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Scale each unit's values to 0..1 over its regions (min -> 0, max -> 1), as the article's 0-254 data."""
    v = np.asarray(values, dtype=np.float64)
    lo, hi = v.min(axis=axis, keepdims=True), v.max(axis=axis, keepdims=True)
    return np.where(hi > lo, (v - lo) / np.where(hi > lo, hi - lo, 1.0), 0.0)


def unit_hues(k: int) -> np.ndarray:
    """One hue in [0, 1) per shown unit, evenly spread around the colour wheel."""
    return (np.arange(k) / max(k, 1) + 0.02) % 1.0


def hue_colours(values: np.ndarray, hues: np.ndarray | None = None) -> list[str]:
    """The article's colouring rule (paper-methods §8.2) for K units over R regions.

    Args:
        values: (K, R) activations scaled to 0..1 (``normalize``).
        hues: (K,) each unit's hue (default ``unit_hues``).

    Returns:
        R hex colours: hue = the value²-weighted circular mean of the units' hues; saturation = the agreement of
        the hues (the weighted resultant length: opposing hues give grey); lightness from the max and the mean
        activation (white where nothing responds, full colour at the max).
    """
    v = np.clip(np.atleast_2d(np.asarray(values, dtype=np.float64)), 0.0, 1.0)  # (K, R)
    hues = unit_hues(v.shape[0]) if hues is None else np.asarray(hues, dtype=np.float64)
    w = v ** 2
    angle = 2 * np.pi * hues[:, None]
    x, y = (w * np.cos(angle)).sum(0), (w * np.sin(angle)).sum(0)
    total = w.sum(0)
    hue = (np.arctan2(y, x) / (2 * np.pi)) % 1.0
    sat = np.where(total > 0, np.hypot(x, y) / np.where(total > 0, total, 1.0), 0.0)
    strength = 0.75 * v.max(0) + 0.25 * v.mean(0)
    light = 1.0 - 0.5 * strength
    out = []
    for h, s, li in zip(hue, sat, light):
        r, g, b = colorsys.hls_to_rgb(float(h), float(li), float(s))
        out.append(f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}")
    return out


def hue_of(k: int, i: int) -> str:
    """The pure colour of the i-th of k units (for legends)."""
    r, g, b = colorsys.hls_to_rgb(float(unit_hues(k)[i]), 0.5, 1.0)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"

"""Altair/Vega-Lite builders of the region-neuron map (countries, cities and the world-map activation as layers of
one equirectangular map) and of the cross-model matching tables. Frames in, ``alt.Chart`` out; no streamlit.

The geometry is the shipped polygons (``core.analyses.geo``), inline in the spec: the map needs no network.
"""
from __future__ import annotations

import altair as alt
import pandas as pd

from core.analyses import geo

WIDTH, HEIGHT = 860, 430
MIN_CELL = 0.2  # world-map cells below this (0..1 above the unit's median cell) are left out of the spec


def _tooltip(prefix: str, units: list[int], name: str = "name") -> list:
    tips = [alt.Tooltip(f"{prefix}{name}:N", title="name")]
    return tips + [alt.Tooltip(f"{prefix}u{u}:Q", title=f"unit {u}", format=".3f") for u in units]


def _countries_values(df: pd.DataFrame, units: list[int]) -> list[dict]:
    out = []
    for feature, rec in zip(geo.geo()["countries"], df.to_dict("records")):
        props = {"name": rec["name"], "continent": rec["continent"], "colour": rec["colour"]}
        props.update({f"u{u}": round(float(rec[f"u{u}"]), 4) for u in units})
        out.append({"type": "Feature", "geometry": feature["geometry"], "properties": props})
    return out


def _cell_features(df: pd.DataFrame, units: list[int]) -> list[dict]:
    """Grid cells as GeoJSON squares (they tile exactly at any chart size, where point marks would overlap)."""
    out = []
    for rec in df.to_dict("records"):
        x0, x1, y0, y1 = rec["lon0"], rec["lon1"], rec["lat0"], rec["lat1"]
        ring = [[x0, y0], [x0, y1], [x1, y1], [x1, y0], [x0, y0]]  # clockwise: d3-geo's exterior ring
        props = {"name": f"map cell (lat {(y0 + y1) / 2:.0f}, lon {(x0 + x1) / 2:.0f})", "colour": rec["colour"],
                 "strength": round(float(rec["strength"]), 3)}
        props.update({f"u{u}": round(float(rec[f"u{u}"]), 4) for u in units})
        out.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]}, "properties": props})
    return out


def _records(df: pd.DataFrame, columns: list[str]) -> list[dict]:
    return [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in rec.items()}
            for rec in df[columns].to_dict("records")]


def region_map_spec(frames: dict[str, pd.DataFrame], units: list[int], *, countries: bool = True,
                    cities: bool = True, world_map: bool = True, title: str = "") -> dict:
    """The Vega-Lite spec of the region map of ``units`` (``regions.unit_frames`` output), coloured by the
    article's hue rule.

    Layers, bottom to top: the sea (the whole sphere, so the projection is the same whatever is shown), the
    countries filled by their name's response, the world-map activation as translucent cells, the cities as dots.
    Hover shows the name and each unit's value. The chart is built on named, empty data and the data put in the
    spec afterwards: Altair would take seconds to validate the inline geometry.
    """
    unit_cols = [f"u{u}" for u in units]
    layers = [alt.Chart(alt.sphere()).mark_geoshape(fill="#eef3f7", stroke="#c8d3dc")]
    fill = alt.Color("properties.colour:N", scale=None) if countries else alt.value("#f4f1ea")
    layers.append(alt.Chart(alt.Data(name="countries")).mark_geoshape(stroke="#777", strokeWidth=0.4).encode(
        fill=fill, tooltip=_tooltip("properties.", units) + [alt.Tooltip("properties.continent:N", title="continent")]))
    data = {"countries": _countries_values(frames["countries"], units)}
    if world_map:
        cells = frames["cells"][frames["cells"]["strength"] >= MIN_CELL]
        data["cells"] = _cell_features(cells, units)
        layers.append(alt.Chart(alt.Data(name="cells")).mark_geoshape(strokeWidth=0).encode(
            fill=alt.Color("properties.colour:N", scale=None),
            opacity=alt.Opacity("properties.strength:Q", scale=alt.Scale(domain=[MIN_CELL, 1], range=[0.15, 0.7]),
                                legend=None),
            tooltip=_tooltip("properties.", units)))
    if cities:
        data["cities"] = _records(frames["cities"], ["name", "lon", "lat", "colour", "strength", *unit_cols])
        layers.append(alt.Chart(alt.Data(name="cities")).mark_circle(stroke="#333", strokeWidth=0.4,
                                                                      opacity=0.9).encode(
            longitude="lon:Q", latitude="lat:Q", fill=alt.Color("colour:N", scale=None),
            size=alt.Size("strength:Q", scale=alt.Scale(domain=[0, 1], range=[6, 70]), legend=None),
            tooltip=_tooltip("", units)))
    chart = alt.layer(*layers).project(type="equirectangular").properties(width=WIDTH, height=HEIGHT, title=title)
    spec = chart.to_dict()
    spec.setdefault("datasets", {}).update(data)
    return spec


def region_ranking_chart(df: pd.DataFrame, *, k: int = 5, top: int = 25) -> alt.Chart:
    """Bars of the units with the most geographic top-``k`` words (``regions.geographic_ranking`` output)."""
    data = df.head(top).assign(neuron=lambda d: d["unit"].astype(int).astype(str))
    return alt.Chart(data).mark_bar().encode(
        y=alt.Y("neuron:N", sort=None, title="unit"),
        x=alt.X("geographic:Q", title=f"geographic words in the top {k}", scale=alt.Scale(domain=[0, k])),
        color=alt.Color("all_geographic:N", title=f"all {k}", scale=alt.Scale(domain=[True, False],
                                                                               range=["#e4572e", "#9bb"])),
        tooltip=["neuron:N", "geographic:Q", "top_words:N", alt.Tooltip("margin:Q", format=".2f")],
    ).properties(height=alt.Step(16), title="Units by geographic top words")

"""Cached parts of the layer grid and the card's 48 argmax-centred examples (``core.analyses.layer_grid``)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.resources.artifacts import ArtifactKey, get_artifact
from ui.resources.models import get_model


@st.cache_data(max_entries=64, show_spinner=False)
def layer_frame(key: ArtifactKey, units: tuple[int, ...]) -> pd.DataFrame:
    """Each unit's top example (unit, row, key, label, value, argmax)."""
    from core.analyses.layer_grid import layer_frame as _frame

    return _frame(get_artifact(key)[0], units)


@st.cache_data(max_entries=64, show_spinner=False)
def top_examples(key: ArtifactKey, unit: int, k: int) -> pd.DataFrame:
    """A unit's ``k`` top examples (row, key, label, value, argmax, rank)."""
    from core.analyses.layer_grid import top_examples as _top

    return _top(get_artifact(key)[0], unit, k)


@st.cache_data(max_entries=256, show_spinner=False)
def crop_tiles(key: ArtifactKey, rows: tuple[int, ...], argmax: tuple[int, ...], size: int, zoom: int) -> list[bytes]:
    """Argmax-centred crops (JPEG bytes) of ``rows``."""
    from core.analyses.layer_grid import crop_tiles as _crops

    return _crops(get_artifact(key)[0], rows, argmax, size=size, zoom=zoom)


@st.cache_data(max_entries=64, ttl=30, show_spinner=False)
def cached_feature_visualizations(model_id: str, layer: str, units: tuple[int, ...]) -> list[bytes | None]:
    """Each unit's cached feature visualization (the card's first picture, PNG with provenance), None where none
    was rendered yet (never renders; kept 30 s, so a render finished meanwhile shows up)."""
    from core.featurevis.png import result_png
    from core.featurevis.strip import cached_strip, strip_items

    loaded = get_model(model_id)
    out = []
    for unit in units:
        res = cached_strip(loaded, layer, int(unit), strip_items(1, ()))[0]
        out.append(None if res is None else result_png(loaded, res))
    return out

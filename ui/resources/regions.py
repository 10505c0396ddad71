"""Cached region maps (one layer's responses to place names and the world map, a map's spec, the geographic
ranking, the demo's flags-by-continent check) and the same neuron in the other artifacts of a collection."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.analyses import tiles
from core.config import get_settings
from ui.jobs import Job, start_job
from ui.resources.artifacts import ArtifactKey, get_artifact
from ui.resources.jobs import BATCH_JOB_THREADS
from ui.resources.models import get_model


def regions_job_key(model_id: str, layer: str) -> str:
    """The key of the job computing one layer's region responses."""
    return f"regions:{get_settings().artifacts_dir}:{model_id}:{layer}"


def regions_computed(model_id: str, layer: str) -> bool:
    """Whether the layer's region responses are on disk (a quick load)."""
    from core.analyses.regions import is_computed

    return is_computed(get_model(model_id), layer)


def regions_job(model_id: str, layer: str) -> Job:
    """Score the place names and run the world-map crops for every unit of the layer, in the background."""
    from core.analyses.regions import layer_regions

    loaded = get_model(model_id)
    return start_job(regions_job_key(model_id, layer), "Computing the layer's region responses",
                     lambda progress: layer_regions(loaded, layer, progress=progress).layer,
                     threads=BATCH_JOB_THREADS)


@st.cache_resource(max_entries=2, show_spinner="Loading the layer's region responses ...")
def layer_regions(model_id: str, layer: str):
    """``core.analyses.regions.LayerRegions`` of a layer (call once ``regions_computed``)."""
    from core.analyses.regions import layer_regions as _layer_regions

    return _layer_regions(get_model(model_id), layer)


@st.cache_data(max_entries=32, show_spinner=False)
def region_map_spec(model_id: str, layer: str, units: tuple[int, ...], countries: bool, cities: bool,
                    world_map: bool) -> dict:
    """The Vega-Lite spec of the map of ``units`` (``core.region_charts.region_map_spec``)."""
    from core.analyses.regions import unit_frames
    from core.region_charts import region_map_spec as _spec

    frames = unit_frames(layer_regions(model_id, layer), list(units))
    return _spec(frames, list(units), countries=countries, cities=cities, world_map=world_map)


@st.cache_data(max_entries=64, show_spinner=False)
def top_regions(model_id: str, layer: str, unit: int, k: int = 8) -> pd.DataFrame:
    """The places whose names excite ``unit`` most: kind, name, value."""
    from core.analyses.regions import top_regions as _top

    return _top(layer_regions(model_id, layer), unit, k)


@st.cache_data(max_entries=8, show_spinner="Ranking the layer's units by their geographic top words ...")
def region_ranking(model_id: str, layer: str, k: int = 5) -> pd.DataFrame:
    """Every unit of the layer ranked by how many of its top-``k`` rastered words are geographic (needs the word
    vocabulary scored and the layer's region responses computed)."""
    from core.analyses.regions import find_region_neurons

    return find_region_neurons(get_model(model_id), layer, k=k)


@st.cache_data(max_entries=4, show_spinner=False)
def continent_preference(key: ArtifactKey) -> str:
    """The sidebar sentence on whether any unit prefers one continent's flags (the demo collection)."""
    from core.analyses.region_checks import continent_note
    from core.analyses.region_checks import continent_preference as _pref

    return continent_note(_pref(get_artifact(key)[0]))


# ---------------------------------------------------------------- the same neuron elsewhere -------------------------
@st.cache_data(ttl=30, show_spinner=False)
def other_artifacts(key: ArtifactKey) -> list[str]:
    """Paths of the other artifacts (other model or layer) over the same collection as ``key``'s."""
    from core.analyses.matching import same_collection
    from core.pipeline.store import list_artifacts

    art = get_artifact(key)[0]
    infos = [i for i in list_artifacts(get_settings().artifacts_dir) if i.complete]
    return [str(a.path) for a in same_collection(art, infos)]


@st.cache_resource(max_entries=8, show_spinner=False)
def open_other(path: str, mtime: float):
    """An artifact opened by path alone (its model is not loaded: matching needs only its arrays)."""
    from core.pipeline.store import open_artifact

    return open_artifact(path)


@st.cache_data(max_entries=128, show_spinner=False)
def matches_elsewhere(key: ArtifactKey, other: str, unit: int, top: int = 3) -> tuple[dict, pd.DataFrame]:
    """``unit``'s best matches in the artifact at ``other``: (its model/layer, DataFrame[unit, score, r_max,
    r_mean, r_words])."""
    from pathlib import Path

    from core.analyses.matching import cached_word_acts, match_artifacts

    art = get_artifact(key)[0]
    mtime = (Path(other) / "manifest.json").stat().st_mtime
    that = open_other(other, mtime)
    wa, wb = cached_word_acts(art), cached_word_acts(that)
    m = match_artifacts(art, that, words_a=wa, words_b=wb, units_a=[unit])
    return {"model": that.model_id, "layer": that.layer, "images": m.images, "words": m.words}, m.best_for(0, top)


@st.cache_data(max_entries=128, show_spinner=False)
def other_grid(path: str, unit: int, k: int = 6, width: int = 72):
    """The top dataset examples of ``unit`` of the artifact at ``path`` (``tiles.Grid``)."""
    from pathlib import Path

    from core.analyses import neuron_card

    art = open_other(path, (Path(path) / "manifest.json").stat().st_mtime)
    return tiles.grid(art, neuron_card.examples_frame(art, unit, k), width=width)

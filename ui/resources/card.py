"""Cached parts of the neuron card: dataset examples and tiles, the card's collection part (with prefetch), chart
specs, zero-shot labels, similar neurons, rastered words."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.analyses import neuron_card
from core.analyses.tiles import TILE_PX, render_tiles
from core.config import get_settings
from ui.prefetch import FutureCache
from ui.resources.artifacts import ArtifactKey, get_artifact, standardized_activations
from ui.resources.models import get_model


@st.cache_data(max_entries=64, show_spinner=False)
def examples(key: ArtifactKey, unit: int, k: int, bottom: bool) -> pd.DataFrame:
    """Top (or most negative) examples: row, key, label, value, argmax."""
    return neuron_card.examples_frame(get_artifact(key)[0], unit, k, bottom)


@st.cache_data(max_entries=256, show_spinner=False)
def tiles(key: ArtifactKey, rows: tuple[int, ...], argmax: tuple[int, ...] | None,
          size: int = TILE_PX) -> list[bytes]:
    """``size``-px dataset-example tiles (JPEG bytes), the most-activating cell outlined when ``argmax`` is given."""
    return render_tiles(get_artifact(key)[0], rows, argmax, size)


# The card's collection part: not ``st.cache_data`` but an LRU of futures (``ui.prefetch``), because a background
# thread fills it with the cards a person is likely to open next (``prefetch_cards``), and a request for a card
# still being built waits for that build instead of repeating it. Values are frozen dataclasses shared read-only
# by all sessions.
CARDS = FutureCache(max_entries=128, workers=1, max_pending=4, name="card-prefetch")


def _card_key(key: ArtifactKey, unit: int, layout: dict) -> tuple:
    return key, int(unit), tuple(sorted(layout.items()))


def neuron_card_data(key: ArtifactKey, unit: int, **layout) -> neuron_card.CardData:
    """The collection part of ``unit``'s card (``neuron_card.build_card``; ``layout`` = its keyword args)."""
    art, z = get_artifact(key)[0], standardized_activations(key)
    return CARDS.get(_card_key(key, unit, layout), lambda: neuron_card.build_card(art, unit, standardized=z, **layout))


def prefetch_cards(key: ArtifactKey, units, **layout) -> None:
    """Build the cards of ``units`` in the background, ``prefetch_delay_s`` (settings) from now, so they do not
    slow the drawing of the card just sent; a switch sooner builds its card in its own run (``FutureCache.get``).
    Hints are dropped when enough builds already wait."""
    art, z = get_artifact(key)[0], standardized_activations(key)
    delay = get_settings().prefetch_delay_s
    for unit in units:
        if 0 <= int(unit) < art.units:
            CARDS.prefetch(_card_key(key, unit, layout),
                           lambda unit=int(unit): neuron_card.build_card(art, unit, standardized=z, **layout),
                           delay=delay)


@st.cache_data(max_entries=64, show_spinner=False)
def chart_spec(builder: str, df: pd.DataFrame, options: tuple = ()) -> dict:
    """``core.charts.<builder>(df, **dict(options))`` as a Vega-Lite spec (``charts.to_spec``), built once per
    distinct input instead of on every rerun of a page. ``cache_data``, not ``cache_resource``: each caller gets its
    own copy, which ``st.vega_lite_chart`` consumes (it moves the datasets out of the spec)."""
    from core import charts

    return charts.to_spec(getattr(charts, builder)(df, **dict(options)))


def directions(model_id: str, layer: str) -> np.ndarray:
    """(C, D) each neuron's direction in the joint space (the article's W_img columns); cached by
    ``core.analyses.search.neuron_directions`` itself."""
    from core.analyses.search import neuron_directions

    return neuron_directions(get_model(model_id), layer).numpy()


@st.cache_data(max_entries=4, show_spinner="Embedding the labelling vocabulary (once per model) ...")
def vocabulary_embeddings(model_id: str) -> tuple[list[str], np.ndarray]:
    """The zero-shot vocabulary and its (P, D) text embeddings with the model's default template."""
    from core.analyses.zeroshot import class_embeddings, default_template

    phrases = neuron_card.load_label_phrases()
    return phrases, np.asarray(class_embeddings(get_model(model_id), phrases, default_template(model_id)))


@st.cache_data(max_entries=128, show_spinner=False)
def unit_labels(model_id: str, layer: str, unit: int, top: int = 8) -> pd.DataFrame:
    """Phrases that excite / inhibit the neuron's direction most."""
    phrases, emb = vocabulary_embeddings(model_id)
    return neuron_card.zero_shot_labels(directions(model_id, layer)[unit], emb, phrases, top=top)


@st.cache_data(max_entries=128, show_spinner=False)
def similar_by_direction(model_id: str, layer: str, unit: int, top: int = 8) -> pd.DataFrame:
    """Neurons whose joint-space directions are closest to ``unit``'s."""
    return neuron_card.similar_by_direction(directions(model_id, layer), unit, top=top)


@st.cache_resource(max_entries=2, show_spinner=False)
def word_table(model_id: str, layer: str):
    """The scored vocabulary (``core.analyses.words.WordActivations``); call only once ``words.is_scored``."""
    from core.analyses.words import word_activations

    return word_activations(get_model(model_id), layer)


@st.cache_data(max_entries=64, show_spinner=False)
def neuron_words(model_id: str, layer: str, unit: int, k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(top, bottom) rastered words of a unit: rank, word, activation, score (std-devs from the vocab mean)."""
    from core.analyses.words import top_words

    table = word_table(model_id, layer)
    return top_words(table, unit, k), top_words(table, unit, k, bottom=True)

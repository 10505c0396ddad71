"""Cached models: the shared ``LoadedModel``, the model menu, a model's layers."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.config import get_settings


@st.cache_resource(max_entries=2, show_spinner="Loading the model (once per server process) ...")
def get_model(model_id: str):
    """The shared, frozen ``LoadedModel`` for ``model_id`` (at most two stay in memory). Sets torch's intra-op
    threads for this server process first (``Settings.server_threads``: the cores but one)."""
    import torch

    from core.model.loading import load_model

    torch.set_num_threads(get_settings().server_threads)
    return load_model(model_id)


@st.cache_data(show_spinner=False)
def demo_capabilities() -> str:
    """What the shipped demo model can and cannot show (from its metrics.json)."""
    from core.pipeline.demo import capabilities_note

    return capabilities_note()


@st.cache_data(ttl=60, show_spinner=False)
def model_menu(default_model: str) -> pd.DataFrame:
    """Model picker rows: id, title, available (weights here, offline); the default model first."""
    from core.model.loading import weights_available
    from core.model.weights import list_menu

    rows = list_menu(weights_available)
    if default_model not in [r["id"] for r in rows]:
        rows.insert(0, {"id": default_model, "title": "configured default (CLIP_EXPLORER_MODEL)",
                        "available": weights_available(default_model)})
    rows.sort(key=lambda r: r["id"] != default_model)
    return pd.DataFrame(rows)[["id", "title", "available"]]


@st.cache_data(show_spinner=False)
def layers(model_id: str) -> pd.DataFrame:
    """The model's hookable layers: id, units, kind (forward order)."""
    from core.model.hooks import list_layers

    return pd.DataFrame([{"id": li.id, "units": li.units, "kind": li.kind} for li in list_layers(get_model(model_id))])


@st.cache_data(show_spinner=False)
def article_layer(model_id: str) -> str:
    """The article's layer for the model (last pre-ReLU residual sum; last MLP for ViTs)."""
    from core.model.hooks import article_layer as _article_layer

    return _article_layer(get_model(model_id))

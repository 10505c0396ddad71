"""Cached models: the shared ``LoadedModel``, the model menu, a model's layers."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.config import get_settings


@st.cache_resource(max_entries=2, show_spinner="Loading the model (once per server process) ...")
def get_model(model_id: str):
    """The shared, frozen ``LoadedModel`` for ``model_id`` (at most two stay in memory). Sets torch's intra-op
    threads for this server process first (``Settings.server_threads``: the cores but one).

    Before anything is created: a shared server refuses a model it does not list (one neutral message,
    ``core.model.guard.check_allowed``), and any server a model estimated larger than its memory budget
    (``check_memory``). A refusal raises, so it is never cached."""
    import torch

    from core.model.guard import check_allowed, check_memory
    from core.model.loading import load_model

    settings = get_settings()
    check_allowed(model_id, settings)
    check_memory(model_id, settings)
    torch.set_num_threads(settings.server_threads)
    return load_model(model_id)


@st.cache_data(show_spinner=False)
def demo_capabilities() -> str:
    """What the shipped demo model can and cannot show (from its metrics.json)."""
    from core.pipeline.demo import capabilities_note

    return capabilities_note()


@st.cache_data(ttl=60, show_spinner=False)
def model_menu(default_model: str, listed: tuple[str, ...] = (), shared: bool = False) -> pd.DataFrame:
    """Model picker rows: id, title, available (weights here, offline); the default model first. ``listed``
    (``Settings.models``) are added after the curated menu; ``shared``: only the default and the listed models
    (``available`` is then True for each: whether a listed file exists is the operator's business, never shown)."""
    from core.model.loading import weights_available
    from core.model.weights import list_menu

    curated = {r["id"]: dict(r) for r in list_menu(weights_available)}
    if shared:
        rows = [{"id": m, "title": curated.get(m, {}).get("title", "listed by this server"), "available": True}
                for m in dict.fromkeys((default_model, *listed))]
        return pd.DataFrame(rows)[["id", "title", "available"]]
    rows = list(curated.values())
    for m in (default_model, *listed):
        if m not in [r["id"] for r in rows]:
            title = ("configured default (CLIP_EXPLORER_MODEL)" if m == default_model
                     else "listed (CLIP_EXPLORER_MODELS)")
            rows.append({"id": m, "title": title, "available": weights_available(m)})
    rows.sort(key=lambda r: r["id"] != default_model)
    return pd.DataFrame(rows)[["id", "title", "available"]]


def _layer_table(model_id: str) -> dict:
    """The model's layer table: known without loading it where ``core.model.layer_table`` has it (the demo's is
    shipped), else from the loaded model (and remembered)."""
    from core.model import layer_table

    return layer_table.lookup(model_id) or layer_table.table(get_model(model_id))


@st.cache_data(show_spinner=False)
def layers(model_id: str) -> pd.DataFrame:
    """The model's hookable layers: id, units, kind (forward order)."""
    return pd.DataFrame([{"id": li["id"], "units": li["units"], "kind": li["kind"]}
                         for li in _layer_table(model_id)["layers"]])


@st.cache_data(show_spinner=False)
def article_layer(model_id: str) -> str:
    """The article's layer for the model (last pre-ReLU residual sum; last MLP for ViTs)."""
    return _layer_table(model_id)["article_layer"]

"""Cached zero-shot neuron search: a query's embedding (encoded once), ranked neurons, the nearest images."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from ui.resources.artifacts import ArtifactKey, get_artifact
from ui.resources.models import get_model


@st.cache_data(max_entries=256, show_spinner=False)
def query_tokens(model_id: str, text: str) -> tuple[int, int]:
    """(tokens of the query, the text tower's context length): ``core.analyses.search.check_query``."""
    from core.analyses.search import check_query

    check = check_query(get_model(model_id), text)
    return check.tokens, check.context


@st.cache_data(max_entries=256, show_spinner=False)
def text_embedding(model_id: str, text: str) -> np.ndarray:
    """The query's (D,) embedding (the int8 text tower where there is one): encoded once for both the neuron
    ranking and the nearest images."""
    from core.model.embed import encode_text

    return encode_text(get_model(model_id), [text], fast=True)[0].numpy()


@st.cache_data(max_entries=256, show_spinner=False)
def text_to_neurons(model_id: str, layer: str, text: str, top: int, scale_by: ArtifactKey | None = None
                    ) -> pd.DataFrame:
    """Neurons ranked by their direction's match with the text (zero-shot neuron search); ``scale_by``: the
    collection whose per-unit std weighs the ranking (the article's v(t)·σ)."""
    from core.analyses.search import neurons_for_embedding

    std = np.asarray(get_artifact(scale_by)[0].unit_std, dtype=np.float32) if scale_by is not None else None
    return neurons_for_embedding(get_model(model_id), text_embedding(model_id, text), layer, top, std)


@st.cache_data(max_entries=64, show_spinner=False)
def image_to_neurons(model_id: str, layer: str, image_bytes: bytes, top: int) -> pd.DataFrame:
    """Neurons most activated by an (already validated) uploaded image."""
    from core.analyses.search import image_to_neurons as _search
    from core.pipeline.images import open_image

    return _search(get_model(model_id), open_image(image_bytes), layer=layer, top=top)


@st.cache_data(max_entries=256, show_spinner=False)
def nearest_images(key: ArtifactKey, text: str | None, image_bytes: bytes | None, top: int) -> pd.DataFrame:
    """Collection images nearest the text or image query (FAISS kNN over the image embeddings)."""
    from core.analyses.search import images_for_embedding, query_images
    from core.pipeline.images import open_image

    art, index = get_artifact(key)
    loaded = get_model(key.model_id)
    if text and not image_bytes:
        return images_for_embedding(loaded, art, index, text_embedding(key.model_id, text), top)
    image = open_image(image_bytes) if image_bytes else None
    return query_images(loaded, art, index, text=text or None, image=image, top=top)

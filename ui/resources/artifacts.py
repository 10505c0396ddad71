"""Cached collections: the indexed artifacts of a model, an opened artifact with its index, per-unit columns.

An artifact is addressed by an ``ArtifactKey`` (its directory, the model id it was opened with, and its manifest's
modification time, so a re-indexed collection is opened afresh).
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import streamlit as st

from core.config import get_settings
from core.pipeline.store import Artifact
from ui.resources.models import get_model


class ArtifactKey(NamedTuple):
    """What the artifact caches are keyed by: hashable, and cheap to hash."""

    path: str
    model_id: str
    mtime: float


def artifact_key(path: str, model_id: str) -> ArtifactKey:
    """The key of the artifact at ``path`` as it is on disk now (its manifest's mtime; 0 when missing)."""
    try:
        mtime = (Path(path) / "manifest.json").stat().st_mtime
    except OSError:
        mtime = 0.0
    return ArtifactKey(str(path), model_id, mtime)


@st.cache_data(ttl=5, show_spinner=False)
def collections(model_id: str, artifacts_dir: str) -> pd.DataFrame:
    """Indexed collections made with this model: name, path, rows, model_id, layer (sorted by name)."""
    from core.pipeline.collection import discover_collections

    infos = discover_collections(Path(artifacts_dir), model=get_model(model_id))
    return pd.DataFrame([{"name": i.name, "path": str(i.path), "rows": int(i.rows), "model_id": i.model_id,
                          "layer": i.layer} for i in infos], columns=["name", "path", "rows", "model_id", "layer"])


@st.cache_resource(max_entries=4, show_spinner="Opening the collection ...")
def get_artifact(key: ArtifactKey) -> tuple[Artifact, object]:
    """The opened, checked artifact (memory-mapped) with its FAISS index (an ``EmbeddingIndex``)."""
    from core.pipeline.index import ensure_index
    from core.pipeline.store import open_artifact

    art = open_artifact(key.path, expect=get_model(key.model_id))
    return art, ensure_index(art)


@st.cache_data(max_entries=64, show_spinner=False)
def unit_values(key: ArtifactKey, unit: int) -> np.ndarray:
    """(N,) one unit's per-image spatial max (pre-ReLU) over the collection, float32."""
    from core.analyses.neuron_card import unit_values as _values

    return _values(get_artifact(key)[0], unit)


@st.cache_resource(max_entries=2, show_spinner=False)
def standardized_activations(key: ArtifactKey) -> np.ndarray:
    """(M, C) float32 z-scored spatial max of the artifact (``neuron_card.similar_sample``: every row up to 20,000
    images, an evenly spaced sample of 20,000 above), shared read-only by all sessions: similar-by-activation lists
    are then one product each."""
    from core.analyses.neuron_card import similar_sample

    return similar_sample(get_artifact(key)[0])


@st.cache_data(max_entries=16, show_spinner=False)
def collection_classes(key: ArtifactKey) -> list[str]:
    """The collection's distinct non-empty labels, sorted ([] when it has none)."""
    return sorted({str(x) for x in (get_artifact(key)[0].labels or []) if str(x).strip()})


@st.cache_data(max_entries=16, ttl=30, show_spinner=False)
def pictures_note(key: ArtifactKey) -> str | None:
    """A note when a collection's pictures are not where it was indexed (its first and last pictures are not
    found): every view still shows values and charts, with a grey tile for each picture that is gone."""
    art = get_artifact(key)[0]
    if all(art.image_path(r).is_file() for r in {0, art.rows - 1}):
        return None
    return (f"This collection's pictures are not found under {art.root} (moved or deleted since it was indexed). "
            "Values, charts and search still work; pictures show as grey tiles.")


@st.cache_data(max_entries=64, show_spinner=False)
def collection_image_bytes(key: ArtifactKey, row: int) -> bytes:
    """The file bytes of one collection image (the path comes from the artifact, never from the URL).

    Raises:
        BadImageError: the file is gone or is not a regular file; the message says where it was looked for.
    """
    from core.pipeline.images import BadImageError, open_regular_file

    art = get_artifact(key)[0]
    try:
        with open_regular_file(art.image_path(int(row)), within=art.root) as fh:
            return fh.read()
    except BadImageError as err:
        raise BadImageError(f"Picture {int(row)} of this collection cannot be read: {err} Were the collection's "
                            f"pictures moved from {art.root}? Pick another picture or upload your own.",
                            err.reason) from err


def collection_folders() -> list[str]:
    """Sub-folders of the collections dir that could be indexed from the UI (names only)."""
    root = get_settings().collections_dir
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))

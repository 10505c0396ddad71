"""What every page works on: the model, its layer and the (optional) indexed collection."""
from __future__ import annotations

from dataclasses import dataclass

from ui.resources.artifacts import ArtifactKey


@dataclass(frozen=True)
class Context:
    """What every page works on: the model, its layer, and the (optional) indexed collection."""

    model_id: str
    layer: str
    units: int
    collection: str | None = None  # the collection's name (never a path from the URL)
    artifact: ArtifactKey | None = None  # the collection's artifact, the key of its caches
    rows: int = 0
    collection_layer: str | None = None

    @property
    def path(self) -> str | None:
        """The collection's artifact directory, if one is picked."""
        return self.artifact.path if self.artifact is not None else None

    @property
    def has_examples(self) -> bool:
        """Whether dataset examples exist for the selected layer."""
        return self.artifact is not None and self.collection_layer == self.layer

    def params(self, **extra) -> dict:
        """The shared URL state of this context plus page-specific ``extra`` values."""
        return {"model": self.model_id, "collection": self.collection, "layer": self.layer, **extra}

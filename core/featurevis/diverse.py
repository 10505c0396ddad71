"""Diversity feature visualization (Olah et al. 2017, the article's Fig. "diversity"): a batch of images that
each excite the unit but differ from each other (``channel - weight * similarity``), and the facet probes trained
up front with their own progress (so a card can say "training the text probe" instead of waiting silently).
No streamlit.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from core.errors import BadInputError
from core.featurevis.objectives import Objective, channel, diversity

DEFAULT_WEIGHT = 2.0
DEFAULT_IMAGES = 4
MAX_WEIGHT = 100.0

Phase = Callable[[str], None]
Progress = Callable[[int, int], None]


def diversity_objective(layer: str, unit: int, *, weight: float = DEFAULT_WEIGHT,
                        diversity_layer: str | None = None) -> Objective:
    """``channel(layer, unit) + weight * diversity(diversity_layer or layer)``: rendered with a batch of 2 or more
    images, each excites the unit while the batch's Gram matrices are pushed apart.

    Raises:
        BadInputError: a weight outside (0, MAX_WEIGHT].
    """
    if not 0 < float(weight) <= MAX_WEIGHT:
        raise BadInputError(f"Diversity weight must be in (0, {MAX_WEIGHT:g}] (got {weight}).")
    return channel(layer, int(unit)) + float(weight) * diversity(diversity_layer or layer)


def check_batch(batch: int) -> int:
    """Diversity needs two or more images rendered together."""
    if int(batch) < 2:
        raise BadInputError(f"A diversity render needs 2 or more images (got --batch {batch}); e.g. --batch 4.")
    return int(batch)


def render_diverse(loaded, layer: str, unit: int, *, images: int = DEFAULT_IMAGES, weight: float = DEFAULT_WEIGHT,
                   steps: int = 256, seed: int = 0, on_step=None, cached: bool = True):
    """Render ``images`` diverse feature visualizations of ``layer:unit`` (from the disk cache when rendered)."""
    from core.featurevis.cache import cached_render
    from core.featurevis.render import render

    obj = diversity_objective(layer, unit, weight=weight)
    kw = dict(steps=int(steps), seed=int(seed), batch=check_batch(images))
    return cached_render(loaded, obj, on_step=on_step, **kw) if cached else render(loaded, obj, on_step=on_step, **kw)


def lookup_diverse(loaded, layer: str, unit: int, *, images: int = DEFAULT_IMAGES, weight: float = DEFAULT_WEIGHT,
                   steps: int = 256, seed: int = 0):
    """The cached diversity render, or None (never renders)."""
    from core.featurevis.cache import lookup

    return lookup(loaded, diversity_objective(layer, unit, weight=weight), steps=int(steps), seed=int(seed),
                  batch=check_batch(images))


def train_probes(loaded, facets: Sequence[str], *, progress: Progress | None = None,
                 phase: Phase | None = None) -> list[str]:
    """Train the probes of ``facets`` not trained yet, announcing each (``phase``) with its progress (images
    through the model; the features are shared, so later facets are quick). Returns the facets trained now."""
    from core.featurevis.facets import probe_cached, train_facet

    trained = []
    for name in facets:
        if probe_cached(loaded, name):
            continue
        if phase:
            phase(f"Training the '{name}' facet's probe (pictures through the model, once per model)")
        train_facet(loaded, name, progress=progress)
        trained.append(name)
    return trained

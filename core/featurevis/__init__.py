"""Feature visualization: parametrizations, transforms, an objective algebra, ``render``, facets, caching.

lucent's decomposition without its side effects: no global device, seeded transforms, the model's
own normalisation, hooks only on the layers an objective names and always removed.
"""
from __future__ import annotations

from core.featurevis.objectives import Objective, as_objective, channel, direction, diversity, facet, faceted, neuron
from core.featurevis.render import RenderResult, render, score_images

__all__ = ["Objective", "RenderResult", "as_objective", "channel", "direction", "diversity", "facet", "faceted",
           "neuron", "render", "score_images"]

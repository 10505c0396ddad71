"""The neuron card's strip of feature visualizations: several seeds and facets of one neuron.

Pure core (no streamlit): which renders make up the strip, which of them are already cached, and
rendering the missing ones with one progress callback and a cancel check.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import Cancelled
from core.featurevis.cache import cached_render, lookup
from core.featurevis.facets import faceted_objective, probe_cached
from core.featurevis.objectives import Objective, channel

if TYPE_CHECKING:
    from core.model.loading import LoadedModel

logger = logging.getLogger(__name__)

STRIP_STEPS = 256  # the default; a deployment sets its own with CLIP_EXPLORER_FV_STEPS (``strip_steps``)
FACET_STRENGTH = 2.0


def strip_steps() -> int:
    """Optimisation steps of the strip's renders: ``CLIP_EXPLORER_FV_STEPS`` when set, else ``STRIP_STEPS``."""
    from core.config import get_settings

    return get_settings().fv_steps or STRIP_STEPS


class RenderCancelled(Cancelled):
    """The user cancelled a render; finished pictures are kept in the cache."""


@dataclass(frozen=True)
class StripItem:
    """One picture of the strip: a plain channel objective (``facet=None``) or a faceted one."""

    seed: int
    facet: str | None = None

    @property
    def label(self) -> str:
        what = "channel" if self.facet is None else f"facet: {self.facet}"
        return f"{what} · seed {self.seed}"


def strip_items(seeds: int = 2, facets: Sequence[str] = ("text",)) -> list[StripItem]:
    """Plain renders for seeds 0..seeds-1, then one faceted render (seed 0) per facet."""
    return [StripItem(s) for s in range(seeds)] + [StripItem(0, f) for f in facets]


def item_objective(loaded: LoadedModel, layer: str, unit: int, item: StripItem, *,
                   train: bool = True) -> Objective | None:
    """The item's objective; None for a facet whose probe is not trained yet and ``train`` is False."""
    base = channel(layer, unit)
    if item.facet is None:
        return base
    if not train and not probe_cached(loaded, item.facet):
        return None
    return faceted_objective(loaded, base, item.facet, strength=FACET_STRENGTH)


def cached_strip(loaded: LoadedModel, layer: str, unit: int, items: Sequence[StripItem], *, steps: int | None = None) -> list:
    """The cached ``RenderResult`` of each item, or None where it has not been rendered (never renders)."""
    steps = steps or strip_steps()
    out = []
    for item in items:
        obj = item_objective(loaded, layer, unit, item, train=False)
        out.append(None if obj is None else lookup(loaded, obj, steps=steps, seed=item.seed))
    return out


def render_strip(loaded: LoadedModel, layer: str, unit: int, items: Sequence[StripItem], *, steps: int | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 cancelled: Callable[[], bool] | None = None) -> list:
    """Render (or read from the cache) every item; progress counts optimisation steps over all of them.

    Raises:
        RenderCancelled: ``cancelled()`` turned true; pictures finished before that stay cached.
    """
    steps = steps or strip_steps()
    todo = [i for i, r in enumerate(cached_strip(loaded, layer, unit, items, steps=steps)) if r is None]
    total = steps * len(todo)
    done = 0

    def on_step(step: int, _total: int, _loss: float) -> bool:
        if progress:
            progress(done + step, total)
        return not (cancelled and cancelled())

    results = []
    for item in items:
        obj = item_objective(loaded, layer, unit, item)
        result = cached_render(loaded, obj, steps=steps, seed=item.seed, on_step=on_step)
        if result.cancelled:
            raise RenderCancelled("Rendering cancelled; finished pictures are kept.")
        if not result.meta.get("cached"):
            done += steps
        results.append(result)
    return results

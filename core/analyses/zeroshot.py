"""Zero-shot classification: class names + prompt templates -> class probabilities.

Text embeddings of (model, classes, templates) are cached in-process (bounded), so repeated
classification with the same class list costs one image forward. The prompt is a parameter:
``"a drawing of a {}"`` suits the demo model (trained on clip art), ``"a photo of a {}"`` real
CLIPs (``default_template``). Nothing here imports streamlit.
"""
from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.errors import BadInputError

if TYPE_CHECKING:
    from core.model.loading import LoadedModel

logger = logging.getLogger(__name__)

DEMO_TEMPLATE = "a drawing of a {}"
PHOTO_TEMPLATE = "a photo of a {}"
MAX_CLASSES = 1000
MAX_CLASS_CHARS = 60
_CACHE_SIZE = 32
_cache: OrderedDict[tuple, np.ndarray] = OrderedDict()
_cache_lock = threading.Lock()


def default_template(loaded_or_id) -> str:
    """The prompt template for a model: clip-art drawings for ``demo``, photos otherwise."""
    model_id = loaded_or_id if isinstance(loaded_or_id, str) else getattr(loaded_or_id, "id", "")
    return DEMO_TEMPLATE if model_id == "demo" else PHOTO_TEMPLATE


def check_template(template: str) -> str:
    """Validate a prompt template: it must contain exactly one ``{}`` placeholder.

    Raises:
        BadInputError: no placeholder, or more than one.
    """
    template = (template or "").strip()
    if template.count("{}") != 1 or re.search(r"\{[^}]+\}", template):
        raise BadInputError(f"Prompt template {template!r} must contain exactly one '{{}}' where the class name "
                            f"goes, e.g. '{PHOTO_TEMPLATE}' or '{DEMO_TEMPLATE}'.")
    return template


def parse_class_list(text: str | Sequence[str], *, minimum: int = 2) -> list[str]:
    """Parse a user-typed class list (comma- or newline-separated), dropping blanks and duplicates.

    Raises:
        BadInputError: fewer than ``minimum`` classes, too many, or an over-long name.
    """
    items = re.split(r"[,\n;]", text) if isinstance(text, str) else list(text)
    seen: dict[str, None] = {}
    for item in items:
        name = " ".join(str(item).split())
        if name and name.lower() not in {s.lower() for s in seen}:
            seen[name] = None
    classes = list(seen)
    if len(classes) < minimum:
        raise BadInputError(f"Type at least {minimum} class names separated by commas, e.g. 'cat, dog, boat' "
                            f"(got {len(classes)}).")
    if len(classes) > MAX_CLASSES:
        raise BadInputError(f"At most {MAX_CLASSES} classes (got {len(classes)}).")
    too_long = [c for c in classes if len(c) > MAX_CLASS_CHARS]
    if too_long:
        raise BadInputError(f"Class names must be at most {MAX_CLASS_CHARS} characters: {too_long[0][:80]!r}.")
    return classes


def class_embeddings(loaded: LoadedModel, classes: Sequence[str], templates: str | Sequence[str]) -> np.ndarray:
    """Text embeddings of the classes, averaged over templates (prompt ensembling), L2-normalised.

    Args:
        loaded: a ``LoadedModel``.
        classes: class names.
        templates: one template or several (each with one ``{}``).

    Returns:
        (K, D) float32 array; cached per (model fingerprint, classes, templates).
    """
    import torch

    from core.model.embed import encode_text

    templates = [templates] if isinstance(templates, str) else list(templates)
    templates = [check_template(t) for t in templates]
    classes = parse_class_list(list(classes), minimum=1)
    key = (loaded.fingerprint, tuple(classes), tuple(templates))
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    per_template = [encode_text(loaded, [t.format(c) for c in classes]) for t in templates]  # each (K, D)
    emb = torch.stack(per_template).mean(0)
    emb = torch.nn.functional.normalize(emb, dim=-1).numpy().astype(np.float32)
    with _cache_lock:
        _cache[key] = emb
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return emb


def logit_scale(loaded: LoadedModel) -> float:
    """The model's learned softmax temperature (exp of ``logit_scale``; 100 for OpenAI CLIPs)."""
    scale = getattr(loaded.model, "logit_scale", None)
    return float(scale.exp()) if scale is not None else 100.0


def softmax_probs(image_emb: np.ndarray, text_emb: np.ndarray, scale: float) -> np.ndarray:
    """Class probabilities from L2-normalised embeddings.

    Args:
        image_emb: (N, D) image embeddings.
        text_emb: (K, D) class embeddings.
        scale: logit scale.

    Returns:
        (N, K) float64 probabilities (rows sum to 1).
    """
    logits = scale * (np.asarray(image_emb, np.float64) @ np.asarray(text_emb, np.float64).T)  # (N, K)
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class ZeroShotClassifier:
    """A zero-shot head: class names, the prompt templates and their (K, D) text embeddings."""

    classes: tuple[str, ...]
    templates: tuple[str, ...]
    text_emb: np.ndarray
    scale: float

    def probs(self, image_emb: np.ndarray) -> np.ndarray:
        """(N, D) image embeddings -> (N, K) probabilities."""
        return softmax_probs(image_emb, self.text_emb, self.scale)

    def index_of(self, name: str) -> int | None:
        """Index of a class name (case-insensitive), or None."""
        low = name.strip().lower()
        for i, c in enumerate(self.classes):
            if c.lower() == low:
                return i
        return None


def build_classifier(loaded: LoadedModel, classes: Sequence[str], template: str | Sequence[str] | None = None
                     ) -> ZeroShotClassifier:
    """A zero-shot classifier for ``classes``; ``template`` defaults to ``default_template(loaded)``.

    Raises:
        BadInputError: an empty class list or a template without ``{}``.
    """
    classes = parse_class_list(list(classes))
    templates = template or default_template(loaded)
    templates = (templates,) if isinstance(templates, str) else tuple(templates)
    emb = class_embeddings(loaded, classes, templates)
    return ZeroShotClassifier(tuple(classes), templates, emb, logit_scale(loaded))


def classify_images(loaded: LoadedModel, images, classifier: ZeroShotClassifier) -> np.ndarray:
    """PIL images -> (N, K) zero-shot probabilities."""
    from core.model.embed import encode_images, preprocess_batch

    if not images:
        return np.zeros((0, len(classifier.classes)))
    emb = encode_images(loaded, preprocess_batch(loaded, images)).numpy()
    return classifier.probs(emb)

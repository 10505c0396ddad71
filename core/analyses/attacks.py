"""Typographic attacks (paper-methods §7): write text on a picture, classify before and after.

The text is drawn with ``core.analyses.raster`` (a "sticker" label of a chosen size, or the article's
pattern: the word 8 times at fixed spots). One forward pass per image gives both the zero-shot
probabilities and the neuron activations at the article's layer, so each attack also reports
which neurons rose and fell most. ``flip_rates`` is the one definition of the article's rates
(success = the top-1 becomes the written class; any-flip = the top-1 leaves the true class), used
by ``core.analyses.attack_lab.attack_eval`` (dataset level) and ``core.analyses.evaluate`` (eval-demo).
Nothing here imports streamlit.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageOps

from core.analyses import raster
from core.analyses.zeroshot import ZeroShotClassifier
from core.errors import BadInputError, with_suggestions

if TYPE_CHECKING:
    from core.model.loading import LoadedModel

logger = logging.getLogger(__name__)

STYLES = ("sticker", "article")
POSITIONS = ("center", "top", "bottom")
STATS = ("max", "mean")
MAX_TEXT_CHARS = 40
Color = tuple[int, int, int]


@dataclass(frozen=True)
class AttackSpec:
    """How to write the attack text.

    Attributes:
        text: the attack text.
        style: ``sticker`` (one label box) or ``article`` (the text 8 times at fixed spots).
        area: sticker box area as a fraction of the picture (0 < area <= 0.5).
        position: sticker position: center, top or bottom.
        fg: text colour (RGB); None: black on the sticker, white with a black outline for ``article``
            (``core.analyses.raster``'s pattern, as eval-demo draws it). bg: sticker box colour (unused by ``article``).
        font: a shipped font name (``core.analyses.raster``).
        text_height: glyph height as a fraction of the picture height (``article`` style).
    """

    text: str
    style: str = "sticker"
    area: float = 0.08
    position: str = "center"
    fg: Color | None = None
    bg: Color = (255, 255, 255)
    font: str = raster.DEFAULT_FONT
    text_height: float = 0.07

    def validated(self) -> AttackSpec:
        """Return a cleaned copy or raise ``BadInputError`` listing the valid values."""
        text = " ".join((self.text or "").split())
        if not text:
            raise BadInputError("Type the attack text (e.g. 'iPod'): it is empty.")
        if len(text) > MAX_TEXT_CHARS:
            raise BadInputError(f"Attack text must be at most {MAX_TEXT_CHARS} characters (got {len(text)}).")
        if self.style not in STYLES:
            raise BadInputError(with_suggestions(f"Unknown attack style '{self.style}'.", self.style, STYLES))
        if self.position not in POSITIONS:
            raise BadInputError(with_suggestions(f"Unknown position '{self.position}'.", self.position, POSITIONS))
        if not 0 < float(self.area) <= 0.5:
            raise BadInputError(f"Sticker size must be between 0 and 50 % of the picture (got {self.area:.0%}).")
        if not 0.02 <= float(self.text_height) <= 0.3:
            raise BadInputError(f"Text height must be between 2 and 30 % of the picture (got {self.text_height:.0%}).")
        return replace(self, text=text)


def parse_color(value: str | Sequence[int]) -> Color:
    """``#rrggbb`` / ``rrggbb`` / an (r, g, b) sequence -> an RGB tuple.

    Raises:
        BadInputError: anything else.
    """
    if isinstance(value, str):
        m = re.fullmatch(r"#?([0-9a-fA-F]{6})", value.strip())
        if not m:
            raise BadInputError(f"Colour {value!r} is not of the form #rrggbb, e.g. #ff0000 for red.")
        h = m.group(1)
        return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)
    rgb = tuple(int(v) for v in value)
    if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
        raise BadInputError(f"Colour {value!r} must be three values 0..255.")
    return rgb  # type: ignore[return-value]


def apply_attack(image: Image.Image, spec: AttackSpec) -> tuple[Image.Image, float]:
    """Write the attack onto a copy of ``image``.

    Returns:
        (attacked RGB image, pixel cover = fraction of pixels changed).
    """
    spec = spec.validated()
    if spec.style == "article":
        fg = spec.fg or (255, 255, 255)
        return raster.overlay_article_pattern(image, spec.text, font=spec.font, text_height_frac=spec.text_height,
                                              fg=fg, outline=_outline(fg))
    return raster.overlay_label(image, spec.text, area_frac=spec.area, position=spec.position,
                                font=spec.font, fg=spec.fg or (0, 0, 0), bg=spec.bg)


def model_view(image: Image.Image, size: int) -> Image.Image:
    """The square the model sees (shorter side resized, centre crop): attacks are drawn on it, so
    no text is cropped away by preprocessing and the pixel cover is exact."""
    image = image.convert("RGB")
    if image.size == (size, size):
        return image
    return ImageOps.fit(image, (size, size), method=Image.Resampling.BICUBIC, centering=(0.5, 0.5))


def _outline(fg: Color) -> Color:
    lum = 0.299 * fg[0] + 0.587 * fg[1] + 0.114 * fg[2]
    return (0, 0, 0) if lum > 127 else (255, 255, 255)


@torch.inference_mode()
def forward_units(loaded: LoadedModel, images: Sequence[Image.Image], *, layer: str | None = None, stat: str = "max",
                  batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Image embeddings and one reduction of a layer's units, from one forward pass per batch.

    Args:
        loaded: a ``LoadedModel``.
        images: PIL images.
        layer: layer id; default the article's layer (``core.model.hooks.article_layer``).
        stat: ``max`` (spatial max, as in the neuron cards) or ``mean`` over positions.

    Returns:
        ``(emb (N, D) L2-normalised, units (N, C))``, float32 numpy arrays.
    """
    from core.model.hooks import article_layer, capture, reduce_positions

    if stat not in STATS:
        raise BadInputError(with_suggestions(f"Unknown statistic '{stat}'.", stat, STATS))
    layer = layer or article_layer(loaded)
    embs, units = [], []
    for i in range(0, len(images), batch_size):
        x = torch.stack([loaded.preprocess(im) for im in images[i:i + batch_size]]).to(loaded.device)  # (B,3,S,S)
        with capture(loaded, [layer]) as acts:
            feats = loaded.model.encode_image(x)  # (B, D)
        embs.append(torch.nn.functional.normalize(feats.float(), dim=-1).cpu())
        mx, _, mean = reduce_positions(acts[layer].float())  # each (B, C)
        units.append((mx if stat == "max" else mean).cpu())
    if not embs:
        raise BadInputError("No images to classify.")
    return torch.cat(embs).numpy(), torch.cat(units).numpy()


def neuron_deltas(before: np.ndarray, after: np.ndarray, *, unit_std: np.ndarray | None = None) -> pd.DataFrame:
    """Per-unit activation change (after - before), averaged over rows when 2-D.

    Args:
        before, after: (C,) or (N, C) activations.
        unit_std: (C,) std of each unit over a collection; adds ``delta_std`` (change in std units).

    Returns:
        DataFrame with columns unit, before, after, delta[, delta_std], sorted by delta descending
        (top risers first, top fallers last).
    """
    b = np.atleast_2d(np.asarray(before, np.float64)).mean(0)
    a = np.atleast_2d(np.asarray(after, np.float64)).mean(0)
    df = pd.DataFrame({"unit": np.arange(b.size), "before": b, "after": a, "delta": a - b})
    if unit_std is not None:
        std = np.asarray(unit_std, np.float64).reshape(-1)
        if std.size != b.size:
            raise BadInputError(f"unit_std has {std.size} units, the layer has {b.size}.")
        df["delta_std"] = df["delta"] / np.where(std > 0, std, 1.0)
    return df.sort_values("delta", ascending=False, kind="stable").reset_index(drop=True)


def risers_fallers(deltas: pd.DataFrame, top: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``top`` units that rose most (delta > 0) and fell most (delta < 0)."""
    rise = deltas[deltas["delta"] > 0].head(top).reset_index(drop=True)
    fall = deltas[deltas["delta"] < 0].sort_values("delta", kind="stable").head(top).reset_index(drop=True)
    return rise, fall


def top_changes(deltas: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    """Risers then fallers (``risers_fallers``) in one frame, for one diverging chart."""
    rise, fall = risers_fallers(deltas, top)
    return pd.concat([rise, fall.iloc[::-1]], ignore_index=True)


def flip_rates(origin: np.ndarray, pred_after: np.ndarray, target: np.ndarray | None = None) -> dict:
    """The article's attack rates over a set of trials.

    Args:
        origin: (T,) class index before the attack (the true class of a correctly classified picture).
        pred_after: (T,) top-1 class index after the attack.
        target: (T,) the written class per trial (-1 where the text is no class), or None.

    Returns:
        ``{"n", "any_flip", "success"}``: any-flip = top-1 left ``origin``; success = top-1 became
        ``target`` (over trials with a target; None when there are none).
    """
    origin, pred_after = np.asarray(origin), np.asarray(pred_after)
    n = int(origin.size)
    out = {"n": n, "any_flip": float(np.mean(pred_after != origin)) if n else None, "success": None}
    if target is not None:
        target = np.asarray(target)
        has = target >= 0
        if has.any():
            out["success"] = float(np.mean(pred_after[has] == target[has]))
    return out


@dataclass
class AttackResult:
    """One attacked picture.

    Attributes:
        before, after: the picture without and with the attack (RGB).
        cover: fraction of pixels changed.
        probs: DataFrame class, before, after, change (probabilities), sorted by ``after``.
        pred_before, pred_after: top-1 class names; flipped: they differ.
        target: the class the text names (None if it names none); success: top-1 after == target.
        deltas: ``neuron_deltas`` output at ``layer``.
    """

    before: Image.Image
    after: Image.Image
    cover: float
    probs: pd.DataFrame
    pred_before: str
    pred_after: str
    flipped: bool
    target: str | None
    success: bool | None
    layer: str
    deltas: pd.DataFrame = field(repr=False)


def attack_image(loaded: LoadedModel, image: Image.Image, spec: AttackSpec, classifier: ZeroShotClassifier, *,
                 layer: str | None = None, stat: str = "max", unit_std: np.ndarray | None = None) -> AttackResult:
    """Attack one picture and measure the effect on the zero-shot prediction and the neurons."""
    from core.model.hooks import article_layer

    spec = spec.validated()
    layer = layer or article_layer(loaded)
    base = model_view(image, loaded.image_size)
    attacked, cover = apply_attack(base, spec)
    emb, units = forward_units(loaded, [base, attacked], layer=layer, stat=stat)
    p = classifier.probs(emb)  # (2, K)
    names = list(classifier.classes)
    probs = pd.DataFrame({"class": names, "before": p[0], "after": p[1], "change": p[1] - p[0]})
    probs = probs.sort_values("after", ascending=False, kind="stable").reset_index(drop=True)
    t = classifier.index_of(spec.text)
    pb, pa = int(p[0].argmax()), int(p[1].argmax())
    return AttackResult(before=base, after=attacked, cover=cover, probs=probs, pred_before=names[pb],
                        pred_after=names[pa], flipped=pb != pa, target=names[t] if t is not None else None,
                        success=(pa == t) if t is not None else None, layer=layer,
                        deltas=neuron_deltas(units[0], units[1], unit_std=unit_std))

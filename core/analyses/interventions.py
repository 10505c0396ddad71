"""Interventions on one neuron: ablate (to zero / to its mean), amplify, and the article's causal check.

An edit rewrites one unit of one hooked layer during a forward pass (``core.model.hooks.patch``, which
always removes its hook). ``intervention_effect`` reports how the zero-shot probabilities of an
image change; ``causal_check`` is the article's check (paper-methods §5.1): raise a unit on a blank
image and watch the logit of the concept whose text direction best matches the unit.
Nothing here imports streamlit.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image

from core.errors import BadInputError, CoreError
from core.model.hooks import article_layer, capture, patch, resolve_layer, resolve_neuron

if TYPE_CHECKING:
    from core.model.loading import LoadedModel
    from core.pipeline.store import Artifact

logger = logging.getLogger(__name__)

OPS = ("zero", "mean", "scale", "set", "add")


class InterventionError(CoreError):
    """An edit that cannot be applied (unknown op, missing value, model without an attention pool)."""


@dataclass(frozen=True)
class Edit:
    """One edit of one unit at every spatial position / token.

    Attributes:
        unit: channel index.
        op: ``zero`` (set to 0), ``mean`` (set to ``value``, the unit's mean), ``scale`` (multiply by
            ``value``), ``set`` (set to ``value``) or ``add`` (add ``value``).
        value: the op's operand (ignored for ``zero``).
    """

    unit: int
    op: str
    value: float = 0.0

    def apply(self, act: torch.Tensor) -> torch.Tensor:
        """Edit ``act`` ((B, C, H, W) or (B, L, D)) in place and return it."""
        view = act[:, self.unit] if act.dim() == 4 else act[..., self.unit]
        if self.op == "zero":
            view.zero_()
        elif self.op in ("mean", "set"):
            view.fill_(self.value)
        elif self.op == "scale":
            view.mul_(self.value)
        elif self.op == "add":
            view.add_(self.value)
        return act

    def describe(self) -> str:
        return {"zero": f"unit {self.unit} set to 0", "mean": f"unit {self.unit} set to its mean {self.value:.3g}",
                "scale": f"unit {self.unit} x {self.value:g}", "set": f"unit {self.unit} set to {self.value:g}",
                "add": f"unit {self.unit} + {self.value:g}"}[self.op]


def make_edit(unit: int, op: str, value: float | None = None) -> Edit:
    """Validate and build an ``Edit``.

    Raises:
        InterventionError: unknown op, or a missing operand (``mean`` needs the unit's mean:
            pass it, or use ``unit_mean`` with an activation artifact).
    """
    if op not in OPS:
        raise InterventionError(f"Unknown intervention '{op}'. Available: {', '.join(OPS)}.")
    if op == "zero":
        return Edit(int(unit), op, 0.0)
    if value is None or not np.isfinite(value):
        need = "the unit's mean (give --value, or --artifact to take it from an activation artifact)" \
            if op == "mean" else "a finite value (--value)"
        raise InterventionError(f"Intervention '{op}' needs {need}.")
    return Edit(int(unit), op, float(value))


def unit_mean(artifact: Artifact, unit: int) -> float:
    """The unit's mean over a collection: the average of its per-image spatial mean (``artifact.mean``)."""
    if not 0 <= unit < artifact.units:
        raise BadInputError(f"Unit {unit} is out of range for this artifact: valid units are 0..{artifact.units - 1}.")
    return float(np.asarray(artifact.mean[:, unit], dtype=np.float64).mean())


def _layer(loaded: LoadedModel, layer: str | None) -> str:
    return layer or article_layer(loaded)


def _check_units(loaded: LoadedModel, layer: str, edits: Sequence[Edit]) -> None:
    for e in edits:
        resolve_neuron(loaded, f"{layer}:{e.unit}")


def _edit_fn(edits: Sequence[Edit]):
    def fn(act: torch.Tensor) -> torch.Tensor:
        for e in edits:
            e.apply(act)
        return act
    return fn


@torch.inference_mode()
def image_features(loaded: LoadedModel, pixels: torch.Tensor, edits: Sequence[Edit] = (), *, layer: str | None = None,
                   watch: str | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Unnormalised image embeddings with ``edits`` applied at ``layer``.

    Args:
        pixels: (B, 3, S, S) preprocessed images.
        watch: a layer to capture as well (after the edit when it is the edited layer's output).

    Returns:
        ``(features (B, D), watched activation or None)``.
    """
    layer = _layer(loaded, layer)
    x = pixels.to(loaded.device)
    with patch(loaded, layer, _edit_fn(edits)) if edits else contextlib.nullcontext():
        if watch is None:
            return loaded.model.encode_image(x).float().cpu(), None
        with capture(loaded, [watch]) as acts:
            feats = loaded.model.encode_image(x).float().cpu()
        return feats, acts[watch].float().cpu()


def _classifier(loaded: LoadedModel, labels: Sequence[str] | None, template: str | None):
    """The zero-shot head (core.analyses.zeroshot); default labels: the demo corpus's categories."""
    from core.analyses.zeroshot import build_classifier
    from core.pipeline.demo import CATEGORIES

    return build_classifier(loaded, list(CATEGORIES) if labels is None else labels, template)


def _logits(clf, feats: torch.Tensor) -> torch.Tensor:
    """CLIP logits scale * cos(image, class): feats (B, D) -> (B, K)."""
    return clf.scale * F.normalize(feats, dim=-1) @ torch.from_numpy(clf.text_emb).T


@dataclass
class InterventionResult:
    """Zero-shot effect of edits on one image.

    Attributes:
        table: one row per label: label, prob_before, prob_after, delta, logit_before, logit_after;
            sorted by prob_before, descending.
        unit_before / unit_after: the edited units' spatial max at ``layer`` before / after (unit -> value).
        edits: the edits applied; layer: where.
    """

    table: pd.DataFrame
    unit_before: dict[int, float]
    unit_after: dict[int, float]
    edits: list[Edit]
    layer: str

    def probs(self) -> pd.DataFrame:
        """class, before, after, change: the shape ``charts.class_probs_chart`` draws."""
        t = self.table
        return pd.DataFrame({"class": t["label"], "before": t["prob_before"], "after": t["prob_after"],
                             "change": t["delta"]})

    def to_dict(self) -> dict:
        return {"layer": self.layer, "edits": [e.describe() for e in self.edits],
                "unit_before": self.unit_before, "unit_after": self.unit_after,
                "top_before": self.table.sort_values("prob_before", ascending=False)["label"].iloc[0],
                "top_after": self.table.sort_values("prob_after", ascending=False)["label"].iloc[0],
                "table": self.table.round(6).to_dict(orient="records")}


def intervention_effect(loaded: LoadedModel, image: Image.Image, edits: Sequence[Edit],
                        labels: Sequence[str] | None = None,
                        *, template: str | None = None, layer: str | None = None) -> InterventionResult:
    """Zero-shot probabilities of ``image`` over ``labels`` before and after ``edits`` at ``layer``.

    Args:
        image: a PIL image (preprocessed with the model's own transform).
        edits: from ``make_edit``; the units must exist at ``layer``.
        labels / template: classes and prompt (``core.analyses.zeroshot``); default the demo corpus's
            categories and ``core.analyses.zeroshot.default_template``.
        layer: default the article's layer (pre-ReLU sum of the last bottleneck).

    Raises:
        BadInputError, UnitOutOfRangeError, InterventionError.
    """
    layer = _layer(loaded, layer)
    edits = list(edits)
    if not edits:
        raise InterventionError("No edit given: choose a unit and an intervention (zero, mean, scale, set, add).")
    _check_units(loaded, layer, edits)
    clf = _classifier(loaded, labels, template)
    pixels = loaded.preprocess(image).unsqueeze(0)  # (1, 3, S, S)
    before, act_b = image_features(loaded, pixels, layer=layer, watch=layer)
    after, act_a = image_features(loaded, pixels, edits, layer=layer, watch=layer)
    lb, la = _logits(clf, before)[0], _logits(clf, after)[0]  # (K,)
    pb, pa = lb.softmax(-1), la.softmax(-1)
    table = pd.DataFrame({"label": list(clf.classes), "prob_before": pb.numpy(), "prob_after": pa.numpy(),
                          "delta": (pa - pb).numpy(), "logit_before": lb.numpy(), "logit_after": la.numpy()})
    table = table.sort_values("prob_before", ascending=False, ignore_index=True)

    def _unit_max(act: torch.Tensor) -> dict[int, float]:
        flat = act.flatten(2) if act.dim() == 4 else act.transpose(1, 2)  # (1, C, positions)
        return {e.unit: float(flat[0, e.unit].max()) for e in edits}

    return InterventionResult(table, _unit_max(act_b), _unit_max(act_a), edits, layer)


def blank_image(loaded: LoadedModel, kind: str = "white") -> Image.Image:
    """A blank input at the model's resolution: ``white`` or ``mean`` (the preprocessing mean colour)."""
    size = loaded.image_size
    if kind == "white":
        return Image.new("RGB", (size, size), (255, 255, 255))
    if kind == "mean":
        mean = getattr(getattr(loaded.model.visual, "preprocess_cfg", None) or {}, "get", lambda *_: None)("mean")
        mean = mean or (0.48145466, 0.4578275, 0.40821073)
        return Image.new("RGB", (size, size), tuple(int(round(255 * m)) for m in mean))
    raise BadInputError(f"Unknown blank image '{kind}'. Available: white, mean.")


def pool_input_layer(loaded: LoadedModel, layer: str | None = None) -> str:
    """The layer whose output the attention pool reads: the last block's post-ReLU output.

    Raises:
        InterventionError: the image tower has no attention pool (not a ModifiedResNet).
    """
    if loaded.family != "resnet" or not hasattr(loaded.model.visual, "attnpool"):
        raise InterventionError("The causal check needs a ResNet CLIP (attention pool after the last block); "
                                f"{loaded.id} has a {type(loaded.model.visual).__name__} image tower.")
    layer = _layer(loaded, layer)
    info = resolve_layer(loaded, layer)
    block = info.module.removesuffix(".act3") if info.module.endswith(".act3") else info.module
    last = article_layer(loaded).removesuffix(".act3@in")
    if block != last:
        raise InterventionError(f"The causal check edits the input of the attention pool ({last}); "
                                f"layer {layer} is not it. Use the article layer {article_layer(loaded)}.")
    return block


def pool_map(loaded: LoadedModel) -> torch.Tensor:
    """The attention pool's value path W_img = c_proj.weight @ v_proj.weight as (C, D) rows w_u.

    Unnormalised on purpose: under uniform attention, adding delta to unit u at every position moves
    the (unnormalised) image embedding by exactly ``delta * w_u`` (paper-methods §5.1).
    """
    from core.analyses.search import neuron_directions

    return neuron_directions(loaded, article_layer(loaded), normalize=False).clone()  # (C, D)


@dataclass
class CausalResult:
    """The article's causal check for one unit.

    Attributes:
        table: one row per concept: concept, alignment (w_u . t_hat, the bilinear weight), predicted
            (delta * alignment: the change of <y, t_hat> if attention were fixed), raw_change (measured
            change of <y, t_hat>, y the unnormalised image embedding), logit_before, logit_after,
            logit_change, prob_before, prob_after; sorted by alignment, descending.
        target: the concept whose text direction best matches the unit (highest alignment).
        passed: the target's logit rose.
        unit, delta, layer, image: what was done.
    """

    table: pd.DataFrame
    target: str
    passed: bool
    unit: int
    delta: float
    layer: str
    image: str

    def to_dict(self) -> dict:
        t = self.table.set_index("concept")
        return {"unit": self.unit, "layer": self.layer, "delta": self.delta, "image": self.image,
                "target": self.target, "passed": self.passed,
                "target_logit_change": float(t.at[self.target, "logit_change"]),
                "sign_agreement": sign_agreement(self.table),
                "table": self.table.round(6).to_dict(orient="records")}


def sign_agreement(table: pd.DataFrame) -> float:
    """Fraction of concepts whose measured logit change has the sign of the predicted change."""
    pred, meas = np.sign(table["predicted"].to_numpy()), np.sign(table["logit_change"].to_numpy())
    return float((pred == meas).mean()) if len(table) else float("nan")


def causal_check(loaded: LoadedModel, unit: int, concepts: Sequence[str], *, template: str = "{}", delta: float | None = None,
                 blank: str = "white", layer: str | None = None) -> CausalResult:
    """Raise ``unit`` on a blank image and measure every concept's logit (paper-methods §5.1).

    The unit's post-ReLU value (the attention pool's input) is raised by ``delta`` at every
    position. The concept the unit "means" is the one with the highest bilinear alignment
    ``w_u . t_hat``; the check passes if that concept's CLIP logit rises.

    Args:
        unit: channel at the last block.
        concepts: at least two concept words; ``template`` formats each into a prompt.
        delta: how much to raise the unit; default 5x the RMS of the layer on the blank image.
        blank: ``white`` or ``mean`` (see ``blank_image``).
        layer: the article layer (default) or the last block's output; both edit the pool input.

    Raises:
        InterventionError: not a ResNet CLIP; BadInputError: fewer than two concepts;
        UnitOutOfRangeError: bad unit.
    """
    block = pool_input_layer(loaded, layer)
    resolve_neuron(loaded, f"{block}:{unit}")
    clf = _classifier(loaded, concepts, template)
    text = torch.from_numpy(clf.text_emb)  # (K, D)
    pixels = loaded.preprocess(blank_image(loaded, blank)).unsqueeze(0)  # (1, 3, S, S)
    before, act = image_features(loaded, pixels, layer=block, watch=block)
    if delta is None:
        delta = 5.0 * float(act.pow(2).mean().sqrt().clamp_min(1e-6))
    after, _ = image_features(loaded, pixels, [Edit(int(unit), "add", float(delta))], layer=block)
    align = pool_map(loaded)[unit] @ text.T  # (K,)
    lb, la = _logits(clf, before)[0], _logits(clf, after)[0]  # (K,)
    table = pd.DataFrame({
        "concept": list(clf.classes), "alignment": align.numpy(), "predicted": (delta * align).numpy(),
        "raw_change": ((after - before) @ text.T)[0].numpy(),
        "logit_before": lb.numpy(), "logit_after": la.numpy(), "logit_change": (la - lb).numpy(),
        "prob_before": lb.softmax(-1).numpy(), "prob_after": la.softmax(-1).numpy()})
    table = table.sort_values("alignment", ascending=False, ignore_index=True)
    target = str(table["concept"].iloc[0])
    return CausalResult(table, target, bool(table["logit_change"].iloc[0] > 0), int(unit), float(delta), block, blank)


def causal_survey(loaded: LoadedModel, concepts: Sequence[str], *, units: Sequence[int] | None = None, template: str = "{}",
                  delta: float | None = None, blank: str = "white") -> pd.DataFrame:
    """Run ``causal_check`` for many units (default: each concept's best-aligned unit).

    Returns:
        One row per unit: unit, target, passed, target_logit_change, sign_agreement.
    """
    if units is None:
        align = pool_map(loaded) @ torch.from_numpy(_classifier(loaded, concepts, template).text_emb).T  # (C, K)
        units = sorted({int(u) for u in align.argmax(0)})
    rows = []
    for u in units:
        res = causal_check(loaded, u, concepts, template=template, delta=delta, blank=blank)
        d = res.to_dict()
        rows.append({k: d[k] for k in ("unit", "target", "passed", "target_logit_change", "sign_agreement")})
    return pd.DataFrame(rows)


def demo_image_ids(limit: int = 48) -> list[str]:
    """Ids of held-out demo-corpus pictures of the evaluated categories (the page's example picker)."""
    from core.pipeline.demo import load_corpus_index

    df = load_corpus_index()
    df = df[df["evaluated"] & (df["split"] == "test")]
    return df.groupby("label").head(3)["id"].head(limit).tolist()


def demo_image_bytes(image_id: str) -> bytes:
    """A demo-corpus picture as PNG bytes (hashable input of the cached page functions)."""
    import io

    from core.pipeline.demo import load_corpus_image

    buf = io.BytesIO()
    load_corpus_image(image_id).save(buf, format="PNG")
    return buf.getvalue()

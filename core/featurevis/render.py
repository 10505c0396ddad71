"""The feature-visualization optimisation loop: ``render(loaded, objective, ...)``.

Returns images and the loss trace; never prints, shows or saves. Hooks go only on the layers the
objective names, are installed and removed around every step (so a long render never leaves a
hook on the shared model, and the model lock is only held for one step at a time), and the forward
pass stops right after the deepest hooked layer. Normalisation comes from the model's own
preprocessing config. Gradients flow to the image parameters only; the model stays frozen.
"""
from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from core.errors import BadInputError
from core.featurevis.objectives import Objective, as_objective
from core.featurevis.params import make_param
from core.featurevis.transforms import Transform, compose, make_transforms
from core.model.hooks import resolve_layer

if TYPE_CHECKING:
    from core.model.loading import LoadedModel

logger = logging.getLogger(__name__)

MAX_STEPS, MAX_SIZE, MAX_BATCH = 100_000, 1024, 64
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)

# on_step(step, total, loss) -> False (or raise) to stop early.
StepCallback = Callable[[int, int, float], "bool | None"]


@dataclass
class RenderResult:
    """What ``render`` returns.

    Attributes:
        images: (B, H, W, 3) float32 in [0, 1].
        losses: loss (minus the objective, batch mean) before each step taken.
        steps: steps requested; ``steps_done`` may be fewer if cancelled.
        cancelled: the progress callback asked to stop.
        seconds: wall time of the optimisation.
    """

    images: np.ndarray
    losses: list[float]
    steps: int
    steps_done: int
    objective: str
    seed: int
    cancelled: bool = False
    seconds: float = 0.0
    meta: dict = field(default_factory=dict)

    def to_pil(self) -> list:
        from PIL import Image

        return [Image.fromarray((np.clip(im, 0, 1) * 255).round().astype(np.uint8)) for im in self.images]


class _Stop(Exception):
    """Raised inside the deepest hook: the rest of the forward pass is not needed."""


def normalization(loaded: LoadedModel) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) as (1, 3, 1, 1) tensors from the model's preprocess config (OpenAI's by default)."""
    cfg = getattr(loaded.model.visual, "preprocess_cfg", None) or {}
    mean = torch.tensor(cfg.get("mean", OPENAI_MEAN), dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(cfg.get("std", OPENAI_STD), dtype=torch.float32).view(1, 3, 1, 1)
    return mean.to(loaded.device), std.to(loaded.device)


@dataclass(frozen=True)
class HookPlan:
    """Where to hook: resolved once per render, reused every step."""

    infos: tuple
    modules: tuple
    last: int  # index into infos of the deepest hooked layer


def hook_plan(loaded: LoadedModel, layers: Sequence[str]) -> HookPlan:
    """Resolve ``layers`` to modules and find the deepest one (where the forward pass may stop)."""
    infos = [resolve_layer(loaded, layer) for layer in layers]
    named = list(loaded.model.named_modules())
    order = {name: i for i, (name, _) in enumerate(named)}
    modules = dict(named)
    last = max(range(len(infos)), key=lambda i: (order[infos[i].module], not infos[i].take_input))
    return HookPlan(tuple(infos), tuple(modules[li.module] for li in infos), last)


@contextlib.contextmanager
def hooked(loaded: LoadedModel, plan: HookPlan | Sequence[str]) -> Iterator[dict[str, torch.Tensor]]:
    """Hook the plan's layers keeping the graph; stop the forward after the deepest; always unhook.

    Output layers store a clone and hand that clone on downstream, so it lies on the path to later
    layers (facet gradients need that). ``@in`` layers store a clone of the module input (off the
    path: the in-place ReLU that follows would overwrite anything kept on it).
    """
    if not isinstance(plan, HookPlan):
        plan = hook_plan(loaded, plan)
    acts: dict[str, torch.Tensor] = {}
    handles = []

    def on_input(info, stop: bool):
        def hook(_m, args):
            acts[info.id] = args[0].clone()
            if stop:
                raise _Stop
        return hook

    def on_output(info, stop: bool):
        def hook(_m, _args, output):
            acts[info.id] = output.clone()
            if stop:
                raise _Stop
            return acts[info.id]
        return hook

    with loaded.lock:
        try:
            for i, (info, module) in enumerate(zip(plan.infos, plan.modules)):
                if info.take_input:
                    handles.append(module.register_forward_pre_hook(on_input(info, i == plan.last)))
                else:
                    handles.append(module.register_forward_hook(on_output(info, i == plan.last)))
            yield acts
        finally:
            for h in handles:
                h.remove()


def _forward(loaded: LoadedModel, pixels: torch.Tensor, plan: HookPlan | Sequence[str]) -> dict[str, torch.Tensor]:
    with hooked(loaded, plan) as acts:
        try:
            loaded.model.visual(pixels)
        except _Stop:
            pass
        return dict(acts)


def render(loaded: LoadedModel, objective: Objective | str, *, steps: int = 256, size: int | None = None,
           batch: int = 1,
           param: str = "fft", transforms: str | Sequence[Transform] = "standard", lr: float = 0.05,
           seed: int = 0, on_step: StepCallback | None = None) -> RenderResult:
    """Optimise images to maximise ``objective`` on ``loaded``'s image tower.

    Args:
        loaded: a ``LoadedModel``.
        objective: an ``Objective`` or a ``"layer:unit"`` string (channel objective).
        steps: Adam steps.
        size: image side; default (and required for attention-pooled ResNets) the model's input size.
        batch: images optimised together (distinct random starts).
        param: ``fft`` (Fourier, decorrelated colour; lucid's default) or ``pixel``.
        transforms: a named set (``standard``, ``none``) or a list of transforms.
        lr: Adam learning rate.
        seed: seeds the random start and every transform; same seed, same images.
        on_step: called after every step with (step, total, loss); returning False stops early.

    Returns:
        A ``RenderResult`` (images (B, H, W, 3) in [0, 1], losses, ...).

    Raises:
        BadInputError: non-positive steps/size/batch, or an unknown param or transform set.
        LayerNotFoundError: the objective names a layer the model lacks.
    """
    obj = as_objective(objective)
    size = int(size or loaded.image_size)
    if not (1 <= steps <= MAX_STEPS and 8 <= size <= MAX_SIZE and 1 <= batch <= MAX_BATCH):
        raise BadInputError(f"Render settings out of range (steps={steps}, size={size}, batch={batch}): use "
                            f"1..{MAX_STEPS} steps, size 8..{MAX_SIZE} px and batch 1..{MAX_BATCH}.")
    plan = hook_plan(loaded, obj.layers)  # fails fast, with suggestions, on an unknown layer
    tf = compose(make_transforms(transforms, loaded.image_size) if isinstance(transforms, str) else list(transforms))
    gen = torch.Generator().manual_seed(int(seed))
    params, make_image = make_param(param, size, batch=batch, generator=gen, device=loaded.device)
    opt = torch.optim.Adam(params, lr=lr)
    mean, std = normalization(loaded)
    losses: list[float] = []
    cancelled = False
    t0 = time.perf_counter()
    with torch.enable_grad():
        for step in range(steps):
            opt.zero_grad(set_to_none=True)
            x = tf(make_image(), gen)  # (B, 3, S, S) in [0, 1]
            acts = _forward(loaded, (x - mean) / std, plan)
            loss = -obj(acts).mean()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            if on_step is not None and on_step(step + 1, steps, losses[-1]) is False:
                cancelled = True
                break
    with torch.no_grad():
        images = make_image().permute(0, 2, 3, 1).cpu().numpy().astype(np.float32)  # (B, H, W, 3)
    return RenderResult(images=images, losses=losses, steps=steps, steps_done=len(losses), objective=obj.name,
                        seed=int(seed), cancelled=cancelled, seconds=time.perf_counter() - t0,
                        meta={"param": param, "size": size, "batch": batch, "lr": lr,
                              "transforms": transforms if isinstance(transforms, str) else "custom"})


@torch.no_grad()
def score_images(loaded: LoadedModel, objective: Objective | str, images: torch.Tensor) -> torch.Tensor:
    """The objective's value (B,) for images (B, 3, S, S) in [0, 1] at the model's input size."""
    obj = as_objective(objective)
    mean, std = normalization(loaded)
    with torch.enable_grad():  # facet terms differentiate inside the objective
        x = images.to(loaded.device).float().requires_grad_(True)
        acts = _forward(loaded, (x - mean) / std, obj.layers)
        return obj(acts).detach().cpu()

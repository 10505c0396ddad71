"""Model loading: the one front door, ``load_model(model_id)``.

Model ids:
    ``demo``            the embedded default (``assets/demo/config.json`` + ``weights.safetensors``);
    ``ARCH/TAG``        any open_clip pretrained pair, e.g. ``RN50x4/openai`` (the article's model); the weights
                        come from ``<weights_dir>/ARCH/TAG.pt|.safetensors|.bin`` (``weights_path``), open_clip's
                        caches, or a download when the hub is reachable;
    ``ARCH/random``     the architecture with seeded random weights (plumbing, benchmarks, tests);
    ``ARCH@FILE``       a local checkpoint (safetensors, a plain state-dict ``.pt`` loaded with
                        ``weights_only=True``, or an OpenAI TorchScript ``.pt``); see ``load_checkpoint`` for the
                        activation rule (QuickGELU for OpenAI's archives, else ``ARCH-quickgelu``).
Nothing here imports streamlit.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from core import config
from core.errors import UnknownModelError, WeightsUnavailableError, with_suggestions
from core.model import devices
from core.model.checkpoints import QUICKGELU_SUFFIX, check_arch_fits, check_state, read_state_dict
from core.model.fingerprint import fingerprint
from core.model.preprocess import WhiteBackground, eval_transform
from core.model.weights import local_file, weights_path

logger = logging.getLogger(__name__)

DEMO_ID = "demo"
RANDOM_TAG = "random"
HUB_HOST = ("huggingface.co", 443)


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model id. ``kind`` is one of ``demo``, ``pretrained``, ``random``, ``file``."""

    kind: str
    arch: str
    tag: str | None = None
    path: Path | None = None

    @property
    def id(self) -> str:
        """The canonical id string (round-trips through ``parse_model_id``)."""
        if self.kind == "demo":
            return DEMO_ID
        if self.kind == "file":
            return f"{self.arch}@{self.path}"
        return f"{self.arch}/{self.tag}"


@dataclass
class LoadedModel:
    """A loaded, frozen (eval, no parameter grads) CLIP plus everything needed to use it.

    Attributes:
        model: the open_clip ``CLIP`` module (shared read-only; never mutate).
        preprocess: PIL image -> (3, S, S) tensor; composites transparency onto white first.
        tokenizer: list[str] -> (N, L) token tensor.
        spec: the parsed model id.
        fingerprint: short hash of the weights and config; stamps every artifact.
        config: the open_clip model config dict.
        device: torch device the model lives on.
        lock: held during hooked forward passes (the cached model is shared by all sessions).
    """

    model: torch.nn.Module
    preprocess: Callable[[Any], torch.Tensor]
    tokenizer: Callable[..., torch.Tensor]
    spec: ModelSpec
    fingerprint: str
    config: dict
    device: torch.device
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def image_size(self) -> int:
        size = self.model.visual.image_size
        return int(size[0] if isinstance(size, (tuple, list)) else size)

    @property
    def family(self) -> str:
        """``resnet`` (ModifiedResNet + attention pool), ``vit`` or ``other``."""
        name = type(self.model.visual).__name__
        return {"ModifiedResNet": "resnet", "VisionTransformer": "vit"}.get(name, "other")


def _open_clip():
    import open_clip  # local import: slow, and only needed when a model is loaded

    return open_clip


def parse_model_id(model_id: str) -> ModelSpec:
    """Parse a model id string into a ``ModelSpec``.

    Raises:
        UnknownModelError: the id has no valid form, or names an unknown architecture or tag.
    """
    oc = _open_clip()
    model_id = (model_id or "").strip()
    if not model_id:
        raise UnknownModelError("Empty model id. Use 'demo', ARCH/TAG (e.g. RN50x4/openai) or ARCH@FILE.")
    if model_id == DEMO_ID:
        return ModelSpec("demo", "demo")
    if "@" in model_id:
        arch, _, path = model_id.partition("@")
        _check_arch(arch, oc)
        return ModelSpec("file", arch, path=Path(path).expanduser())
    if "/" not in model_id:
        raise UnknownModelError(with_suggestions(
            f"Model id '{model_id}' needs a tag: ARCH/TAG (e.g. RN50x4/openai), ARCH/random, ARCH@FILE or 'demo'.",
            model_id, [f"{a}/{t}" for a, t in oc.list_pretrained()]))
    arch, _, tag = model_id.partition("/")
    _check_arch(arch, oc)
    if tag == RANDOM_TAG:
        return ModelSpec("random", arch, RANDOM_TAG)
    tags = oc.list_pretrained_tags_by_model(arch)
    if tag not in tags:
        raise UnknownModelError(with_suggestions(
            f"open_clip has no pretrained tag '{tag}' for {arch}.", tag, list(tags) + [RANDOM_TAG]))
    return ModelSpec("pretrained", arch, tag)


def _check_arch(arch: str, oc) -> None:
    _quickgelu_variant(arch, oc)
    if arch not in oc.list_models():
        raise UnknownModelError(with_suggestions(f"Unknown architecture '{arch}'.", arch, oc.list_models()))


def _quickgelu_variant(arch: str, oc) -> None:
    """Register ``BASE-quickgelu`` (``BASE``'s config with ``quick_gelu``) when open_clip has ``BASE`` only."""
    base = arch.removesuffix(QUICKGELU_SUFFIX)
    if arch != base and arch not in oc.list_models() and base in oc.list_models():
        register_config(arch, {**oc.get_model_config(base), "quick_gelu": True})


def register_config(name: str, cfg: dict) -> None:
    """Register an open_clip model config under ``name`` (idempotent)."""
    from open_clip import factory

    factory._MODEL_CONFIGS[name] = cfg  # the registry open_clip.add_model_config fills


def load_model(model_id: str | None = None, *, device: str | None = None) -> LoadedModel:
    """Load a CLIP by id: the single entry point for models.

    Args:
        model_id: see the module docstring; ``None`` means the configured default (``demo``).
        device: torch device; default from settings (``cpu``).

    Returns:
        A ``LoadedModel`` in eval mode with gradients off for all parameters.

    Raises:
        UnknownModelError: the id is malformed or unknown.
        WeightsUnavailableError: the weights are not here (offline), the file is missing or unsafe.
    """
    settings = config.get_settings()
    spec = parse_model_id(model_id or settings.default_model)
    dev = torch.device(devices.check_device(device or settings.device, "device" if device else "CLIP_EXPLORER_DEVICE"))
    if spec.kind == "demo":
        model, cfg = _load_demo()
    elif spec.kind == "random":
        model, cfg = _create(spec.arch, None)
    elif spec.kind == "file":
        model, cfg = _load_file(spec)
    else:
        model, cfg = _load_pretrained(spec)
    model = model.to(dev).eval().requires_grad_(False)
    val_tf = eval_transform(model)
    tokenizer = _tokenizer(spec, cfg)
    fp = fingerprint(model, cfg)
    logger.info("loaded %s (%s) fingerprint %s", spec.id, type(model.visual).__name__, fp)
    return LoadedModel(model=model, preprocess=WhiteBackground(val_tf), tokenizer=tokenizer, spec=spec,
                       fingerprint=fp, config=cfg, device=dev)


def _tokenizer(spec: ModelSpec, cfg: dict):
    oc = _open_clip()
    ctx = cfg.get("text_cfg", {}).get("context_length", 77)
    if spec.kind == "demo":
        return oc.SimpleTokenizer(context_length=ctx)
    return oc.get_tokenizer(spec.arch)


def _model_cfg(arch: str) -> dict:
    oc = _open_clip()
    _quickgelu_variant(arch, oc)
    cfg = oc.get_model_config(arch)
    if cfg is None:
        raise UnknownModelError(with_suggestions(f"Unknown architecture '{arch}'.", arch, oc.list_models()))
    return cfg


_INIT_LOCK = threading.Lock()  # model construction, serialised: _skip_init swaps functions of torch.nn.init
_INIT_FUNCTIONS = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
                   "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
                   "sparse_")


def _create(arch: str, pretrained: str | None, *, skip_init: bool = False, **kw) -> tuple[torch.nn.Module, dict]:
    """Build ``arch`` (open_clip's ``create_model``). ``skip_init``: leave ``torch.nn.init``'s random initialisation
    out, for a model whose every parameter and buffer is loaded next with a strict ``load_state_dict`` (RN50x4:
    about a third faster to load)."""
    oc = _open_clip()
    with _INIT_LOCK:
        if pretrained is None:
            torch.manual_seed(0)  # ARCH/random is reproducible: same id, same weights, same fingerprint
        with _quiet_open_clip(), (_skip_init() if skip_init else contextlib.nullcontext()):
            model = oc.create_model(arch, pretrained=pretrained, **kw)
    return model, _model_cfg(arch)


@contextlib.contextmanager
def _skip_init():
    """``torch.nn.init``'s initialisers as no-ops (the tensors keep whatever ``torch.empty`` gave them)."""
    from torch.nn import init

    saved = {name: getattr(init, name) for name in _INIT_FUNCTIONS if hasattr(init, name)}

    def keep(tensor, *_args, **_kwargs):
        return tensor

    try:
        for name in saved:
            setattr(init, name, keep)
        yield
    finally:
        for name, fn in saved.items():
            setattr(init, name, fn)


@contextlib.contextmanager
def _quiet_open_clip():
    """Silence open_clip's root-logger warning about random init (intended for ARCH/random)."""
    root = logging.getLogger()
    old = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(old)


def _load_demo() -> tuple[torch.nn.Module, dict]:
    cfg_path = config.DEMO_MODEL_DIR / "config.json"
    weights = config.DEMO_MODEL_DIR / "weights.safetensors"
    if not cfg_path.exists() or not weights.exists():
        raise WeightsUnavailableError(
            f"The embedded demo model is missing ({cfg_path.parent} has no config.json/weights.safetensors). "
            "Rebuild it with `python scripts/train_demo_model.py`, or pick a real model, e.g. RN50x4@/path/to/RN50x4.pt.")
    cfg = json.loads(cfg_path.read_text())
    register_config(DEMO_ID, cfg)
    from safetensors.torch import load_file

    oc = _open_clip()
    with _quiet_open_clip():
        model = oc.create_model(DEMO_ID, pretrained=None)
    state = {k: v.float() for k, v in load_file(str(weights)).items()}
    model.load_state_dict(state)
    return model, cfg


def _quick_gelu(spec: ModelSpec) -> bool:
    """QuickGELU for a pretrained ``ARCH/TAG``: open_clip's pretrained cfg says how the tag was trained."""
    oc = _open_clip()
    pcfg = oc.get_pretrained_cfg(spec.arch, spec.tag) if spec.tag else {}
    return bool(pcfg.get("quick_gelu", False)) or spec.tag == "openai"


def _arch_quick_gelu(arch: str) -> bool:
    """Whether the architecture's own config asks for QuickGELU (open_clip's ``ARCH-quickgelu`` names)."""
    return bool(_model_cfg(arch).get("quick_gelu", False))


def _load_file(spec: ModelSpec) -> tuple[torch.nn.Module, dict]:
    path = spec.path
    assert path is not None
    if not path.is_file():
        raise WeightsUnavailableError(
            f"Checkpoint file not found: {path}. Pass an existing .safetensors or .pt file "
            f"(e.g. --checkpoint /models/RN50x4.pt --arch {spec.arch}).")
    return load_checkpoint(path, spec.arch)


def load_checkpoint(path: Path, arch: str, *, quick_gelu: bool | None = None,
                    preprocess: dict | None = None) -> tuple[torch.nn.Module, dict]:
    """Build ``arch`` and load a weights file into it (every parameter and buffer, shapes checked).

    The format is read from the file's content, never from its name: an OpenAI TorchScript archive (a zip with
    ``code/`` and ``constants.pkl``; fp16 as released), a ``torch.save`` zip or legacy pickle holding a plain
    state dict (loaded with ``weights_only=True``; ``{"state_dict": ...}`` and ``module.`` prefixes accepted), or
    safetensors.

    The activation: QuickGELU for OpenAI TorchScript archives (OpenAI trained with it); otherwise ``quick_gelu``
    when given (a pretrained tag's cfg), else the architecture's config (open_clip's ``ARCH-quickgelu`` names,
    e.g. ``RN50x4-quickgelu``; any ``ARCH-quickgelu`` is accepted). The returned config records it.

    Args:
        path: the file.
        arch: open_clip architecture name.
        quick_gelu: the activation for a non-TorchScript file (None: from ``arch``'s config).
        preprocess: open_clip preprocess cfg entries (mean, std, interpolation, resize_mode) to set on the model.

    Raises:
        BadCheckpointError: not a checkpoint, unreadable, corrupt, or made for another architecture.
    """
    state, fmt = read_state_dict(path)
    if fmt == "torchscript":
        quick = True
    elif quick_gelu is not None:
        quick = quick_gelu
    else:
        quick = _arch_quick_gelu(arch)
    check_arch_fits(state, path, arch, _model_cfg(arch))  # before building: a wrong --arch fails in seconds, not after a model init
    model, cfg = _create(arch, None, skip_init=True, force_quick_gelu=quick)
    cfg = dict(cfg)
    if quick:
        cfg["quick_gelu"] = True
    else:
        cfg.pop("quick_gelu", None)
    check_state(model, state, path, arch)
    model.load_state_dict(state, strict=True)  # all tensors: none of the skipped init is left
    if preprocess:
        from open_clip import transform as oct
        from open_clip.model import set_model_preprocess_cfg

        pp = oct.merge_preprocess_dict(model.visual.preprocess_cfg, preprocess)
        pp["size"] = model.visual.image_size
        set_model_preprocess_cfg(model, pp)
    logger.info("loaded %s checkpoint %s as %s (%s)", fmt, path, arch, "QuickGELU" if quick else "GELU")
    return model, cfg


# Tensors OpenAI's archives carry beside the weights (their build_model drops them too).
def _local_weights(spec: ModelSpec, pcfg: dict) -> Path | None:
    """The local file for a pretrained id (``core.model.weights.local_file``)."""
    return local_file(spec.arch, spec.tag or "", pcfg.get("hf_hub"), pcfg.get("url"))


def _load_pretrained(spec: ModelSpec) -> tuple[torch.nn.Module, dict]:
    oc = _open_clip()
    pcfg = oc.get_pretrained_cfg(spec.arch, spec.tag)
    local = _local_weights(spec, pcfg)
    if local is not None:
        logger.info("weights for %s from %s", spec.id, local)
        return load_checkpoint(local, spec.arch, quick_gelu=_quick_gelu(spec), preprocess=pcfg)
    if not _hub_reachable():
        hint = ("open_clip downloads them from the Hugging Face hub"
                + (f" ({pcfg.get('hf_hub')})" if pcfg.get("hf_hub") else "")
                + ", which is not reachable from here")
        target = weights_path(spec.arch, spec.tag or "")
        what = f"OpenAI's {spec.arch}.pt as is, " if spec.tag == "openai" else ""
        raise WeightsUnavailableError(
            f"Weights for {spec.id} are not on this machine and {hint}. Copy the weights file to {target} "
            f"({what}a state dict .pt, or as {target.with_suffix('.safetensors')}; the folder is "
            f"CLIP_EXPLORER_WEIGHTS), or load any file with model id '{spec.arch}@/path/to/file' (CLI: --checkpoint "
            "FILE --arch " f"{spec.arch}), pre-fill the Hugging Face cache, or use the offline model 'demo'.")
    try:
        model, cfg = _create(spec.arch, spec.tag, force_quick_gelu=_quick_gelu(spec))
    except RuntimeError as err:
        raise WeightsUnavailableError(f"Could not get weights for {spec.id}: {err}. Offline, use 'demo' or "
                                      f"'{spec.arch}@/path/to/file'.") from err
    cfg = dict(cfg)
    if _quick_gelu(spec):
        cfg["quick_gelu"] = True
    return model, cfg


def _hub_reachable(timeout: float = 2.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    try:
        with socket.create_connection(HUB_HOST, timeout=timeout):
            return True
    except OSError:
        return False


def weights_available(model_id: str) -> bool:
    """Whether ``load_model(model_id)`` can get its weights without a network."""
    try:
        spec = parse_model_id(model_id)
    except UnknownModelError:
        return False
    if spec.kind == "demo":
        return (config.DEMO_MODEL_DIR / "weights.safetensors").exists()
    if spec.kind == "random":
        return True
    if spec.kind == "file":
        return bool(spec.path and spec.path.is_file())
    return _local_weights(spec, _open_clip().get_pretrained_cfg(spec.arch, spec.tag)) is not None

"""Model loading: the one front door, ``load_model(model_id)``.

Model ids:
    ``demo``            the embedded default (``assets/demo/config.json`` + ``weights.safetensors``);
    ``ARCH/TAG``        any open_clip pretrained pair, e.g. ``RN50x4/openai`` (the article's model);
    ``ARCH/random``     the architecture with seeded random weights (plumbing, benchmarks, tests);
    ``ARCH@FILE``       a local checkpoint (safetensors, a plain state-dict ``.pt`` loaded with
                        ``weights_only=True``, or an OpenAI TorchScript ``.pt``).
Nothing here imports streamlit.
"""
from __future__ import annotations

import contextlib
import hashlib
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
from core.model.weights import hf_cached
from core.pipeline.images import to_rgb_on_white

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
    if arch not in oc.list_models():
        raise UnknownModelError(with_suggestions(f"Unknown architecture '{arch}'.", arch, oc.list_models()))


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
    dev = torch.device(device or settings.device)
    if spec.kind == "demo":
        model, cfg = _load_demo()
    elif spec.kind == "random":
        model, cfg = _create(spec.arch, None)
    elif spec.kind == "file":
        model, cfg = _load_file(spec)
    else:
        model, cfg = _load_pretrained(spec)
    model = model.to(dev).eval().requires_grad_(False)
    val_tf = _eval_transform(model)
    tokenizer = _tokenizer(spec, cfg)
    fp = fingerprint(model, cfg)
    logger.info("loaded %s (%s) fingerprint %s", spec.id, type(model.visual).__name__, fp)
    return LoadedModel(model=model, preprocess=_WhiteBackground(val_tf), tokenizer=tokenizer, spec=spec,
                       fingerprint=fp, config=cfg, device=dev)


def _eval_transform(model: torch.nn.Module):
    from open_clip import transform as oct

    pp = getattr(model.visual, "preprocess_cfg", None)
    if pp:
        return oct.image_transform_v2(oct.PreprocessCfg(**oct.merge_preprocess_dict(oct.PreprocessCfg(), pp)),
                                      is_train=False)
    return oct.image_transform(model.visual.image_size, is_train=False)


class _WhiteBackground:
    """Preprocess wrapper: transparency onto white, then open_clip's eval transform."""

    def __init__(self, transform):
        self.transform = transform

    def __call__(self, img):
        return self.transform(to_rgb_on_white(img))

    def __repr__(self) -> str:
        return f"WhiteBackground({self.transform!r})"


def _tokenizer(spec: ModelSpec, cfg: dict):
    oc = _open_clip()
    ctx = cfg.get("text_cfg", {}).get("context_length", 77)
    if spec.kind == "demo":
        return oc.SimpleTokenizer(context_length=ctx)
    return oc.get_tokenizer(spec.arch)


def _model_cfg(arch: str) -> dict:
    oc = _open_clip()
    cfg = oc.get_model_config(arch)
    if cfg is None:
        raise UnknownModelError(with_suggestions(f"Unknown architecture '{arch}'.", arch, oc.list_models()))
    return cfg


def _create(arch: str, pretrained: str | None, **kw) -> tuple[torch.nn.Module, dict]:
    oc = _open_clip()
    if pretrained is None:
        torch.manual_seed(0)  # ARCH/random is reproducible: same id, same weights, same fingerprint
    with _quiet_open_clip():
        model = oc.create_model(arch, pretrained=pretrained, **kw)
    return model, _model_cfg(arch)


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
    oc = _open_clip()
    pcfg = oc.get_pretrained_cfg(spec.arch, spec.tag) if spec.tag else {}
    return bool(pcfg.get("quick_gelu", False)) or spec.tag == "openai"


def _load_file(spec: ModelSpec) -> tuple[torch.nn.Module, dict]:
    path = spec.path
    assert path is not None
    if not path.is_file():
        raise WeightsUnavailableError(
            f"Checkpoint file not found: {path}. Pass an existing .safetensors or .pt file "
            f"(e.g. --checkpoint /models/RN50x4.pt --arch {spec.arch}).")
    quick = spec.arch.startswith("RN") or "openai" in path.name.lower()
    if path.suffix == ".safetensors":
        return _create(spec.arch, str(path), force_quick_gelu=quick)
    if _is_torchscript(path):
        oc = _open_clip()
        logger.info("loading OpenAI TorchScript archive %s", path)
        model = oc.load_openai_model(str(path), device="cpu", jit=False)
        return model, _model_cfg(spec.arch)
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:  # pickle that is not a plain state dict: refuse, never unpickle arbitrary code
        raise WeightsUnavailableError(
            f"{path} is not a plain state dict loadable with weights_only=True ({type(err).__name__}). "
            "Convert it to safetensors, or use OpenAI's original .pt (TorchScript) file.") from err
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    state = {k.removeprefix("module."): v for k, v in state.items()}
    model, cfg = _create(spec.arch, None, force_quick_gelu=quick)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise WeightsUnavailableError(
            f"{path} does not match architecture {spec.arch}: {len(missing)} missing keys "
            f"(e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]}). Check --arch.")
    return model, cfg


def _is_torchscript(path: Path) -> bool:
    import zipfile

    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(n.endswith("constants.pkl") or "/code/" in n for n in zf.namelist())


def _load_pretrained(spec: ModelSpec) -> tuple[torch.nn.Module, dict]:
    oc = _open_clip()
    pcfg = oc.get_pretrained_cfg(spec.arch, spec.tag)
    if not _weights_cached(pcfg) and not _hub_reachable():
        hint = ("open_clip downloads them from the Hugging Face hub"
                + (f" ({pcfg.get('hf_hub')})" if pcfg.get("hf_hub") else "")
                + ", which is not reachable from here")
        raise WeightsUnavailableError(
            f"Weights for {spec.id} are not cached on this machine and {hint}. Either copy the weights file here and "
            f"load it with model id '{spec.arch}@/path/to/file' (CLI: --checkpoint FILE --arch {spec.arch}; "
            "OpenAI's original RN50x4.pt works as is), pre-fill the Hugging Face cache, or use the offline model 'demo'.")
    try:
        return _create(spec.arch, spec.tag, force_quick_gelu=_quick_gelu(spec))
    except RuntimeError as err:
        raise WeightsUnavailableError(f"Could not get weights for {spec.id}: {err}. Offline, use 'demo' or "
                                      f"'{spec.arch}@/path/to/file'.") from err


def _weights_cached(pcfg: dict) -> bool:
    return hf_cached(pcfg.get("hf_hub"))  # torch-free, in core.model.weights


def _hub_reachable(timeout: float = 2.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    try:
        with socket.create_connection(HUB_HOST, timeout=timeout):
            return True
    except OSError:
        return False


def fingerprint(model: torch.nn.Module, cfg: dict) -> str:
    """A 16-hex-digit hash of the config and every parameter/buffer (dtype, shape and bytes)."""
    h = hashlib.blake2b(digest_size=8)
    h.update(json.dumps(cfg, sort_keys=True, default=str).encode())
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


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
    return _weights_cached(_open_clip().get_pretrained_cfg(spec.arch, spec.tag))

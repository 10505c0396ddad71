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
from core.errors import BadCheckpointError, UnknownModelError, WeightsUnavailableError, with_suggestions
from core.images import to_rgb_on_white

logger = logging.getLogger(__name__)

DEMO_ID = "demo"
RANDOM_TAG = "random"
HUB_HOST = ("huggingface.co", 443)
QUICKGELU_SUFFIX = "-quickgelu"  # open_clip's naming: ARCH-quickgelu is ARCH with QuickGELU activations


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
    _check_arch_fits(state, path, arch)  # before building: a wrong --arch fails in seconds, not after a model init
    model, cfg = _create(arch, None, skip_init=True, force_quick_gelu=quick)
    cfg = dict(cfg)
    if quick:
        cfg["quick_gelu"] = True
    else:
        cfg.pop("quick_gelu", None)
    _check_state(model, state, path, arch)
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
_OPENAI_EXTRA_KEYS = ("input_resolution", "context_length", "vocab_size")
_ZIP_MAGIC = b"PK\x03\x04"


def read_state_dict(path: Path) -> tuple[dict[str, torch.Tensor], str]:
    """Read a weights file into a state dict; returns ``(state, format)``, format one of ``torchscript``,
    ``state_dict``, ``safetensors``.

    Raises:
        BadCheckpointError: one clear message for every way a file can be unusable.
    """
    import zipfile

    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head[:4] == _ZIP_MAGIC:
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError) as err:
            raise BadCheckpointError(
                f"{path} is a corrupt or truncated zip archive ({size:,} bytes; {err}): a TorchScript or torch.save "
                "file cut short or damaged. Copy the file again (compare its size or checksum with the original)."
            ) from err
        if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
            return _read_torchscript(path, size), "torchscript"
        return _read_pickle(path, size), "state_dict"
    if _looks_like_safetensors(head, size) or path.suffix == ".safetensors":
        return _read_safetensors(path, size), "safetensors"
    return _read_pickle(path, size), "state_dict"


def _looks_like_safetensors(head: bytes, size: int) -> bool:
    if len(head) < 9:
        return False
    n = int.from_bytes(head[:8], "little")
    return 0 < n <= size - 8 and head[8:9] == b"{"


def _read_torchscript(path: Path, size: int) -> dict[str, torch.Tensor]:
    logger.info("loading TorchScript archive %s", path)
    import warnings

    try:
        with warnings.catch_warnings():  # torch's deprecation notice for torch.jit: noise on every load
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(str(path), map_location="cpu")
        state = dict(module.state_dict())
    except Exception as err:  # torch reports damage inside the archive as RuntimeError and others
        raise BadCheckpointError(
            f"{path} is a TorchScript archive that cannot be read ({size:,} bytes; {type(err).__name__}: "
            f"{_first_line(err)}): corrupt or truncated. Copy the file again.") from err
    return _clean_state(state, path)


def _read_safetensors(path: Path, size: int) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except Exception as err:  # SafetensorError, OSError, ...
        raise BadCheckpointError(
            f"{path} is not a readable safetensors file ({size:,} bytes; {type(err).__name__}: {_first_line(err)}): "
            "corrupt or truncated. Copy the file again, or re-save it with safetensors.torch.save_file.") from err
    return _clean_state(state, path)


def _read_pickle(path: Path, size: int) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:  # pickle that is not a plain state dict: refuse, never unpickle arbitrary code
        raise BadCheckpointError(
            f"{path} is not a plain state dict loadable with weights_only=True ({type(err).__name__}: "
            f"{_first_line(err)}). Convert it to safetensors, or use OpenAI's original .pt (TorchScript) file."
        ) from err
    return _clean_state(state, path)


def _first_line(err: BaseException, limit: int = 160) -> str:
    text = (str(err).strip().splitlines() or [""])[0]
    return text if len(text) <= limit else text[:limit] + "..."


def _clean_state(state, path: Path) -> dict[str, torch.Tensor]:
    """A state dict: unwrap ``{"state_dict": ...}``, drop ``module.`` and OpenAI's extra tensors; refuse others."""
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state:
        what = type(state).__name__ if not isinstance(state, dict) else "an empty dict"
        if isinstance(state, (list, tuple)):
            what = f"a {type(state).__name__} of {len(state)} items"
        elif isinstance(state, torch.Tensor):
            what = f"a single tensor of shape {tuple(state.shape)}"
        raise BadCheckpointError(
            f"{path} holds {what}, not a state dict (a mapping from parameter names to tensors). Save the model's "
            "state_dict() (torch.save(model.state_dict(), path) or safetensors), or use OpenAI's original .pt file.")
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise BadCheckpointError(
            f"{path} is a dict but not a state dict: {len(bad)} of its {len(state)} entries are not named tensors "
            f"(e.g. {str(bad[0])[:60]!r}). Save the model's state_dict() instead.")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    for key in _OPENAI_EXTRA_KEYS:
        if key in state and state[key].dim() == 0:
            state.pop(key)
    return state


def _check_state(model: torch.nn.Module, state: dict[str, torch.Tensor], path: Path, arch: str) -> None:
    """Raise one summarising ``BadCheckpointError`` unless ``state`` fits ``model`` key for key, shape for shape."""
    want = model.state_dict()
    missing = [k for k in want if k not in state]
    unexpected = [k for k in state if k not in want]
    shapes = [(k, tuple(state[k].shape), tuple(want[k].shape)) for k in want
              if k in state and tuple(state[k].shape) != tuple(want[k].shape)]
    if not (missing or unexpected or shapes):
        return
    parts = []
    if shapes:
        k, got, exp = shapes[0]
        parts.append(f"{len(shapes)} tensors differ in shape (e.g. {k}: {got} in the file, {exp} in {arch})")
    if missing:
        parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
    found = describe_state(state)
    if found:
        desc, names = found
        guess = (f" The file looks like {' / '.join(names)} ({desc}): use --arch {names[0]} (model id "
                 f"'{names[0]}@{path}')." if names else f" The file looks like a CLIP with {desc}, which matches no "
                 "open_clip architecture here; register a config for it.")
    else:
        guess = " The file does not look like an OpenAI/open_clip CLIP state dict."
    raise BadCheckpointError(f"{path} does not match architecture {arch}: " + "; ".join(parts) + "." + guess)


def _check_arch_fits(state: dict[str, torch.Tensor], path: Path, arch: str) -> None:
    """Fail early when the file's inferred shape (``describe_state``) is not ``arch``'s config."""
    sig = _state_signature(state)
    if sig is None or _cfg_matches(sig, _model_cfg(arch)):
        return  # not inferable, or it fits: the key-by-key check after building decides
    desc, names = _describe(sig)
    fix = (f"use --arch {names[0]} (model id '{names[0]}@{path}')" if names
           else "no open_clip architecture here has that shape; register a config for it")
    raise BadCheckpointError(f"{path} does not match architecture {arch}: the file looks like "
                             f"{' / '.join(names) or 'a CLIP'} ({desc}); {fix}.")


def describe_state(state: dict[str, torch.Tensor]) -> tuple[str, list[str]] | None:
    """Infer a CLIP state dict's architecture from its key shapes.

    Returns:
        ``(description, names)``: a short description and the open_clip architectures (without their
        ``-quickgelu`` twins) whose config matches; ``None`` when the keys are not those of a CLIP.
    """
    sig = _state_signature(state)
    return None if sig is None else _describe(sig)


def _state_signature(state: dict[str, torch.Tensor]) -> dict | None:
    import re

    def count(pattern: str) -> int:
        return len({m.group(1) for k in state if (m := re.match(pattern, k))})

    try:
        sig: dict[str, Any] = {"embed_dim": int(state["text_projection"].shape[1]),
                               "context_length": int(state["positional_embedding"].shape[0]),
                               "vocab_size": int(state["token_embedding.weight"].shape[0]),
                               "text_width": int(state["ln_final.weight"].shape[0]),
                               "text_layers": count(r"transformer\.resblocks\.(\d+)\.")}
        if "visual.attnpool.positional_embedding" in state:
            sig["layers"] = [count(rf"visual\.layer{b}\.(\d+)\.") for b in (1, 2, 3, 4)]
            sig["width"] = int(state["visual.layer1.0.conv1.weight"].shape[0])
            sig["patch_size"] = None
            sig["image_size"] = 32 * round((state["visual.attnpool.positional_embedding"].shape[0] - 1) ** 0.5)
        elif "visual.conv1.weight" in state and "visual.positional_embedding" in state:
            sig["layers"] = count(r"visual\.transformer\.resblocks\.(\d+)\.")
            sig["width"] = int(state["visual.conv1.weight"].shape[0])
            sig["patch_size"] = int(state["visual.conv1.weight"].shape[-1])
            sig["image_size"] = sig["patch_size"] * round((state["visual.positional_embedding"].shape[0] - 1) ** 0.5)
        else:
            return None
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    return sig


def _cfg_matches(sig: dict, cfg: dict) -> bool:
    v, t = cfg.get("vision_cfg", {}), cfg.get("text_cfg", {})
    layers = v.get("layers")
    image_size = v.get("image_size")
    return (cfg.get("embed_dim") == sig["embed_dim"] and v.get("width") == sig["width"]
            and v.get("patch_size") == sig["patch_size"]
            and (list(image_size) if isinstance(image_size, (list, tuple)) else [image_size] * 2)
            == [sig["image_size"]] * 2
            and (list(layers) if isinstance(layers, (list, tuple)) else layers) == sig["layers"]
            and t.get("width") == sig["text_width"] and t.get("layers") == sig["text_layers"]
            and t.get("context_length", 77) == sig["context_length"] and t.get("vocab_size", 49408) == sig["vocab_size"]
            and not v.get("timm_model_name") and not t.get("hf_model_name"))


def _describe(sig: dict) -> tuple[str, list[str]]:
    if sig["patch_size"] is None:
        desc = f"ModifiedResNet {'-'.join(map(str, sig['layers']))}, width {sig['width']}, {sig['image_size']} px"
    else:
        desc = f"ViT {sig['layers']} blocks, width {sig['width']}, patch {sig['patch_size']}, {sig['image_size']} px"
    desc += f"; text {sig['text_layers']} x {sig['text_width']}; embedding {sig['embed_dim']}"
    oc = _open_clip()
    names = [name for name in oc.list_models()
             if not name.endswith(QUICKGELU_SUFFIX) and _cfg_matches(sig, oc.get_model_config(name) or {})]
    return desc, names


def weights_path(arch: str, tag: str, suffix: str = ".pt") -> Path:
    """Where a local file makes the id ``ARCH/TAG`` work: ``<weights_dir>/<ARCH>/<TAG><suffix>``
    (``CLIP_EXPLORER_WEIGHTS``, default ``<repo>/weights``); ``.pt`` (OpenAI's TorchScript archive or a state
    dict), ``.safetensors`` or ``.bin``."""
    return config.get_settings().weights_dir / arch / f"{tag}{suffix}"


WEIGHT_SUFFIXES = (".pt", ".safetensors", ".bin")


def _local_weights(spec: ModelSpec, pcfg: dict) -> Path | None:
    """The local file for a pretrained id: the weights folder first, then open_clip's caches (Hugging Face hub
    cache; the ``~/.cache/clip`` folder its URL downloads go to)."""
    for suffix in WEIGHT_SUFFIXES:
        p = weights_path(spec.arch, spec.tag or "", suffix)
        if p.is_file():
            return p
    hit = _hf_cached(pcfg)
    if hit is not None:
        return hit
    url = pcfg.get("url")
    if url:
        p = Path(os.path.expanduser("~/.cache/clip")) / os.path.basename(url)
        if p.is_file():
            return p
    return None


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


def _weights_cached(pcfg: dict) -> bool:
    return _hf_cached(pcfg) is not None


def _hf_cached(pcfg: dict) -> Path | None:
    hub = pcfg.get("hf_hub")
    if not hub:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    repo = hub.rstrip("/")
    for fname in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"):
        hit = try_to_load_from_cache(repo, fname)
        if isinstance(hit, str) and os.path.exists(hit):
            return Path(hit)
    return None


def _hub_reachable(timeout: float = 2.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    try:
        with socket.create_connection(HUB_HOST, timeout=timeout):
            return True
    except OSError:
        return False


def fingerprint(model: torch.nn.Module, cfg: dict) -> str:
    """A 16-hex-digit hash of everything that decides the model's outputs: the config, the activation the model
    was built with (QuickGELU or GELU, read from its modules), its image preprocessing where it differs from
    open_clip's default for its image size, and every parameter/buffer (dtype, shape and bytes).

    The activation and preprocessing enter as config entries (``quick_gelu: true``, ``preprocess: {...}``) only
    when they are not the defaults, so a GELU model with default preprocessing (the demo) keeps the hash it had
    before they were added."""
    h = hashlib.blake2b(digest_size=8)
    h.update(json.dumps(fingerprint_config(model, cfg), sort_keys=True, default=str).encode())
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def uses_quick_gelu(model: torch.nn.Module) -> bool:
    """Whether any activation module of the model is open_clip's QuickGELU."""
    from open_clip.transformer import QuickGELU

    return any(isinstance(m, QuickGELU) for m in model.modules())


def fingerprint_config(model: torch.nn.Module, cfg: dict) -> dict:
    """The config part of the fingerprint: ``cfg`` with the activation as built and non-default preprocessing."""
    out = {k: v for k, v in cfg.items() if k != "quick_gelu"}
    if uses_quick_gelu(model):
        out["quick_gelu"] = True
    pp = _preprocess_changes(model)
    if pp:
        out["preprocess"] = pp
    return out


def _preprocess_changes(model: torch.nn.Module) -> dict:
    from dataclasses import asdict

    from open_clip.transform import PreprocessCfg

    visual = getattr(model, "visual", None)
    pp = getattr(visual, "preprocess_cfg", None) or {}
    default = asdict(PreprocessCfg())
    default["size"] = getattr(visual, "image_size", default["size"])

    def norm(v):
        return list(v) if isinstance(v, (tuple, list)) else v

    return {k: norm(v) for k, v in sorted(pp.items()) if norm(default.get(k)) != norm(v)}


def list_menu() -> list[dict]:
    """The curated model menu (``core/model_menu.json``), each with ``available`` (weights here, offline)."""
    entries = json.loads(config.MODEL_MENU_FILE.read_text())["models"]
    out = []
    for e in entries:
        e = dict(e)
        e["available"] = weights_available(e["id"])
        out.append(e)
    return out


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

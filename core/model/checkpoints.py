"""Reading a weights file by what it contains (OpenAI's TorchScript archive, a state dict, safetensors), never by
its name, and telling which architecture a state dict is when it does not fit the one asked for."""
from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import torch

from core.errors import BadCheckpointError
from core.model.file_shapes import ZIP_MAGIC, cfg_matches, is_torchscript, state_signature

logger = logging.getLogger(__name__)

QUICKGELU_SUFFIX = "-quickgelu"  # open_clip's naming: ARCH-quickgelu is ARCH with QuickGELU activations


_OPENAI_EXTRA_KEYS = ("input_resolution", "context_length", "vocab_size")


def read_state_dict(path: Path) -> tuple[dict[str, torch.Tensor], str]:
    """Read a weights file into a state dict; returns ``(state, format)``, format one of ``torchscript``,
    ``state_dict``, ``safetensors``.

    Raises:
        BadCheckpointError: one clear message for every way a file can be unusable.
    """

    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head[:4] == ZIP_MAGIC:
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError) as err:
            raise BadCheckpointError(
                f"{path} is a corrupt or truncated zip archive ({size:,} bytes; {err}): a TorchScript or torch.save "
                "file cut short or damaged. Copy the file again (compare its size or checksum with the original)."
            ) from err
        if is_torchscript(names):
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


def check_state(model: torch.nn.Module, state: dict[str, torch.Tensor], path: Path, arch: str) -> None:
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


def check_arch_fits(state: dict[str, torch.Tensor], path: Path, arch: str, cfg: dict) -> None:
    """Fail early when the file's inferred shape (``describe_state``) is not ``arch``'s config ``cfg``."""
    sig = state_signature(state)
    if sig is None or cfg_matches(sig, cfg):
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
    sig = state_signature(state)
    return None if sig is None else _describe(sig)


def _describe(sig: dict) -> tuple[str, list[str]]:
    if sig["patch_size"] is None:
        desc = f"ModifiedResNet {'-'.join(map(str, sig['layers']))}, width {sig['width']}, {sig['image_size']} px"
    else:
        desc = f"ViT {sig['layers']} blocks, width {sig['width']}, patch {sig['patch_size']}, {sig['image_size']} px"
    desc += f"; text {sig['text_layers']} x {sig['text_width']}; embedding {sig['embed_dim']}"
    import open_clip as oc  # only when a file does not fit: slow to import

    names = [name for name in oc.list_models()
             if not name.endswith(QUICKGELU_SUFFIX) and cfg_matches(sig, oc.get_model_config(name) or {})]
    return desc, names

"""Compute devices and numeric precision: ``--device`` / ``CLIP_EXPLORER_DEVICE`` and ``--precision`` /
``CLIP_EXPLORER_PRECISION``.

``check_device`` turns a user's device string into a canonical one (``cpu``, ``cuda``, ``cuda:N``, ``mps``) or
raises ``DeviceUnavailableError`` with one line saying what to do: never a torch traceback. ``check_device_syntax``
does the cheap half (no torch import) for the settings. ``resolve_precision`` maps a precision setting to what a
forward pass runs in on a device, and ``autocast`` is the context that runs it: float32 (TF32 off on CUDA, so the
reference is true float32) or mixed precision (``torch.autocast`` in float16 / bfloat16). Stored artifacts stay
float16/float32 either way; the manifest records the precision (docs/artifacts.md).
"""
from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from core.errors import BadInputError

DEVICE_FORMS = "cpu, cuda, cuda:N (N = GPU index) or mps"
PRECISIONS = ("auto", "fp32", "amp", "fp16", "bf16")
PRECISION_HELP = ("numeric precision of the forward pass: auto (default: amp on CUDA, fp32 elsewhere), fp32, amp "
                  "(fp16 on CUDA, bf16 on CPU), fp16 or bf16; artifacts record it in their manifest")
_DEVICE_RE = re.compile(r"^(cpu|mps|cuda(?::(\d{1,3}))?)$")


class DeviceUnavailableError(BadInputError):
    """A device that is malformed, or that this machine (or this torch build) does not have."""


def check_device_syntax(device: str, source: str = "--device") -> str:
    """``device`` lower-cased and stripped if it has a valid form, else ``DeviceUnavailableError`` (no torch)."""
    value = (device or "").strip().lower()
    if not _DEVICE_RE.match(value):
        raise DeviceUnavailableError(f"{source} must be {DEVICE_FORMS}, not {device!r}.")
    return value


def check_device(device: str | None, source: str = "--device") -> str:
    """The canonical device string for ``device`` (``None``: ``cpu``), checked against this machine.

    Raises:
        DeviceUnavailableError: a malformed value, CUDA asked for where torch sees no CUDA GPU (or not that
            many), or MPS where there is none.
    """
    value = check_device_syntax(device or "cpu", source)
    if value == "cpu":
        return value
    import torch

    if value.startswith("cuda"):
        if not torch.cuda.is_available():
            why = "this torch build has no CUDA support" if torch.version.cuda is None else "torch sees no CUDA GPU"
            raise DeviceUnavailableError(f"{source} {value}: {why} on this machine; use {source} cpu "
                                         "(or check the driver and CUDA_VISIBLE_DEVICES).")
        count = torch.cuda.device_count()
        index = int(value.split(":")[1]) if ":" in value else 0
        if index >= count:
            raise DeviceUnavailableError(f"{source} {value}: this machine has {count} CUDA GPU(s), "
                                         f"cuda:0..cuda:{count - 1}.")
        return value
    backend = getattr(torch.backends, "mps", None)
    if backend is None or not backend.is_available():
        raise DeviceUnavailableError(f"{source} mps: Apple's MPS backend is not available here; use {source} cpu.")
    return value


def check_precision(precision: str | None, source: str = "--precision") -> str:
    value = (precision or "auto").strip().lower()
    if value not in PRECISIONS:
        raise BadInputError(f"{source} must be one of {', '.join(PRECISIONS)}, not {precision!r}.")
    return value


def resolve_precision(precision: str | None, device) -> str:
    """What a forward pass on ``device`` runs in for the setting ``precision``: ``fp32``, ``fp16`` or ``bf16``.

    ``auto``: ``fp16`` on CUDA, ``fp32`` elsewhere (CPU results stay byte-identical to earlier versions);
    ``amp``: ``fp16`` on CUDA, ``bf16`` on CPU and MPS.
    """
    value = check_precision(precision)
    kind = _device_type(device)
    if value == "auto":
        return "fp16" if kind == "cuda" else "fp32"
    if value == "amp":
        return "fp16" if kind == "cuda" else "bf16"
    return value


def _device_type(device) -> str:
    return getattr(device, "type", None) or str(device).split(":")[0]


@contextlib.contextmanager
def autocast(device, precision: str) -> Iterator[None]:
    """Run the block in ``precision`` (a resolved one: ``fp32``, ``fp16`` or ``bf16``) on ``device``.

    ``fp32`` on CUDA also turns TF32 off for convolutions and matmuls inside the block (cuDNN allows it by
    default), so float32 means float32 and agreement measures compare against the real thing.
    """
    import torch

    kind = _device_type(device)
    if precision == "fp32":
        if kind != "cuda":
            yield
            return
        old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        try:
            yield
        finally:
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old
        return
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}[precision]
    with torch.autocast(device_type=kind, dtype=dtype):
        yield

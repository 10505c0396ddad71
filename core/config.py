"""Settings of the package: paths and defaults, read from environment variables.

Nothing here does work at import time beyond reading ``os.environ`` on demand.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = REPO_ROOT / "assets"
DEMO_MODEL_DIR = ASSETS_DIR / "demo"
DEFAULT_MODEL_ID = "demo"
DATA_DIR = Path(__file__).resolve().parent / "data"
MODEL_MENU_FILE = DATA_DIR / "model_menu.json"

# Images larger than this many pixels are refused (Pillow's own decompression-bomb limit is 89.5 MP).
MAX_IMAGE_PIXELS = 89_478_485
# The neuron card builds the cards likely opened next this long after it was sent, so the builds do not compete with
# the browser drawing it (``bench_browser.py --baseline prefetch`` compares delays; docs/performance.md).
DEFAULT_PREFETCH_DELAY_S = 0.35


def default_server_threads() -> int:
    """torch's intra-op threads in the dashboard's server: all cores but one, so the server's event loop (and, run
    locally, the browser) keeps a core while a page's script runs the model; torch's OpenMP threads spin-wait
    through small ops and would otherwise take it (``bench_browser.py --baseline threads`` compares)."""
    return max(1, (os.cpu_count() or 1) - 1)


@dataclass(frozen=True)
class Settings:
    """Runtime settings.

    Attributes:
        artifacts_dir: where activation artifacts, indexes and caches are written
            (``CLIP_EXPLORER_ARTIFACTS``, default ``<repo>/artifacts``).
        collections_dir: root under which image collections may be read by the UI
            (``CLIP_EXPLORER_COLLECTIONS``, default ``<artifacts>/collections``).
        default_model: model id used when none is given (``CLIP_EXPLORER_MODEL``, default ``demo``).
        device: torch device string (``CLIP_EXPLORER_DEVICE``, default ``cpu``): ``cpu``, ``cuda``, ``cuda:N`` or
            ``mps``, checked against the machine when the settings are read (``core.model.devices.check_device``: a
            one-line error, not a traceback, where CUDA is asked for and absent). The CLI's ``--device`` overrides it.
        precision: forward-pass precision (``CLIP_EXPLORER_PRECISION``, default ``auto``: mixed float16 on CUDA,
            float32 elsewhere; ``fp32``, ``amp``, ``fp16``, ``bf16``; ``core.model.devices.resolve_precision``) for
            extraction and for the search's text and image encodings. The CLI's ``--precision`` overrides it.
        weights_dir: where local weight files are looked up (``CLIP_EXPLORER_WEIGHTS``,
            default ``<repo>/weights``).
        prefetch_delay_s: seconds the neuron card waits before it builds the cards likely opened next
            (``CLIP_EXPLORER_PREFETCH_DELAY``, default 0.35; ``ui.resources.prefetch_cards``).
        static_from_memory: whether the dashboard's server answers the front end's code files from memory
            (``CLIP_EXPLORER_STATIC_FROM_MEMORY``, default 1; ``ui.static_cache``; 0 = Streamlit's own serving).
        server_threads: torch's intra-op threads in the dashboard's server, set when it loads its first model
            (``CLIP_EXPLORER_SERVER_THREADS``, default: the cores but one; ``default_server_threads``). The CLI
            and the benchmarks keep torch's own default.
    """

    artifacts_dir: Path
    collections_dir: Path
    default_model: str
    device: str
    weights_dir: Path
    prefetch_delay_s: float = DEFAULT_PREFETCH_DELAY_S
    static_from_memory: bool = True
    server_threads: int = field(default_factory=default_server_threads)
    precision: str = "auto"
    vocab_size: int | None = None
    fv_steps: int | None = None


_ENV = ("CLIP_EXPLORER_ARTIFACTS", "CLIP_EXPLORER_COLLECTIONS", "CLIP_EXPLORER_MODEL", "CLIP_EXPLORER_DEVICE",
        "CLIP_EXPLORER_WEIGHTS", "CLIP_EXPLORER_PREFETCH_DELAY", "CLIP_EXPLORER_STATIC_FROM_MEMORY",
        "CLIP_EXPLORER_SERVER_THREADS", "CLIP_EXPLORER_PRECISION", "CLIP_EXPLORER_VOCAB_SIZE",
        "CLIP_EXPLORER_FV_STEPS")


def get_settings() -> Settings:
    """Read the settings from the environment (cheap: resolved once per distinct set of values; call it
    where needed, a changed variable takes effect at the next call)."""
    return _settings(tuple(os.environ.get(k) for k in _ENV), os.getcwd())  # cwd: relative paths resolve against it


@functools.lru_cache(maxsize=16)
def _settings(env: tuple[str | None, ...], _cwd: str) -> Settings:
    artifacts_env, collections_env, model, device, weights, delay, static, threads, precision, vocab, steps = env
    artifacts = Path(artifacts_env or REPO_ROOT / "artifacts").resolve()
    return Settings(
        artifacts_dir=artifacts,
        collections_dir=Path(collections_env or artifacts / "collections").resolve(),
        default_model=model or DEFAULT_MODEL_ID,
        device=_device(device),
        weights_dir=Path(weights or REPO_ROOT / "weights").resolve(),
        prefetch_delay_s=_seconds("CLIP_EXPLORER_PREFETCH_DELAY", delay, DEFAULT_PREFETCH_DELAY_S),
        static_from_memory=_flag("CLIP_EXPLORER_STATIC_FROM_MEMORY", static, True),
        server_threads=_threads("CLIP_EXPLORER_SERVER_THREADS", threads),
        precision=_precision(precision),
        vocab_size=_count("CLIP_EXPLORER_VOCAB_SIZE", vocab, "words", "all 12,000"),
        fv_steps=_count("CLIP_EXPLORER_FV_STEPS", steps, "steps", "256"),
    )


def _device(raw: str | None) -> str:
    """``CLIP_EXPLORER_DEVICE``: ``cpu`` when unset; else checked (torch is imported only for a non-CPU value)."""
    if raw is None or not raw.strip():
        return "cpu"
    from core.model.devices import check_device

    return check_device(raw, "CLIP_EXPLORER_DEVICE")


def _precision(raw: str | None) -> str:
    from core.model.devices import check_precision

    return check_precision(raw, "CLIP_EXPLORER_PRECISION")


def _flag(name: str, raw: str | None, default: bool) -> bool:
    if raw is None or not raw.strip():
        return default
    value = raw.strip().lower()
    if value not in ("0", "1", "true", "false", "yes", "no", "on", "off"):
        from core.errors import BadInputError

        raise BadInputError(f"{name} must be 1 or 0 (true/false), not {raw!r}; unset it to use the default.")
    return value in ("1", "true", "yes", "on")


def _seconds(name: str, raw: str | None, default: float) -> float:
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 60.0:
        from core.errors import BadInputError

        raise BadInputError(f"{name} must be a number of seconds between 0 and 60, not {raw!r}; unset it to use "
                            f"the default ({default} s).")
    return value


def _threads(name: str, raw: str | None) -> int:
    if raw is None or not raw.strip():
        return default_server_threads()
    if not raw.strip().isdigit() or not 1 <= int(raw) <= 1024:
        from core.errors import BadInputError

        raise BadInputError(f"{name} must be a whole number of threads (1 or more), not {raw!r}; unset it to use "
                            f"the default ({default_server_threads()}: the cores but one).")
    return int(raw)


def _count(name: str, raw: str | None, what: str, default: str) -> int | None:
    """A positive whole number, or None (unset: the caller's default)."""
    if raw is None or not raw.strip():
        return None
    if not raw.strip().isdigit() or int(raw) < 1:
        from core.errors import BadInputError

        raise BadInputError(f"{name} must be a whole number of {what} (1 or more), not {raw!r}; unset it to use the "
                            f"default ({default}).")
    return int(raw)

"""Settings of the package: paths and defaults, read from environment variables (``CLIP_EXPLORER_*``), or from a
TOML file named by ``CLIP_EXPLORER_CONFIG`` (keys: the variables' names without the prefix, lower case; a variable
that is set wins over the file).

Nothing here does work at import time beyond reading ``os.environ`` on demand.
"""
from __future__ import annotations

import contextlib
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
# An uploaded image (a search or attack picture, one image of an uploaded collection) may be at most this large.
UPLOAD_MAX_BYTES = 8 * 1024 * 1024
UPLOAD_MAX_PIXELS = 25_000_000
# An uploaded collection (a zip or image files, "Index a folder") may hold this many MB of images in all.
DEFAULT_UPLOAD_MAX_MB = 200
# The neuron card builds the cards likely opened next this long after it was sent: the browser draws it meanwhile,
# and on a machine it shares with the server a build (~50 ms of CPU each on the 2-core test box) slowed that drawing
# (bench_browser.py --baseline prefetch measures both side by side; figures in the README).
DEFAULT_PREFETCH_DELAY_S = 0.35


def default_server_threads() -> int:
    """torch's intra-op threads in the dashboard's server: all cores but one. The server's event loop (and, run
    locally, the browser) needs a core while a page's script runs the model; with every core given to torch, its
    OpenMP threads spin-wait through each small op and a query's text encoding took 75-220 ms instead of 3-9 ms
    (timed inside the server on the 2-core test machine; ``bench_browser.py --baseline threads`` measures the
    search it slowed)."""
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
        vocab_size: how many of the most frequent words the top-words tables score (``CLIP_EXPLORER_VOCAB_SIZE``,
            default all 12,000); a big model on a CPU scores about a word a second.
        fv_steps: optimisation steps of the card's feature visualizations (``CLIP_EXPLORER_FV_STEPS``, default 256).

    Serving many people (``docs/deploying.md``):
        shared: the dashboard is a shared server (``CLIP_EXPLORER_SHARED``, default 0): the model picker offers only
            ``models`` (nothing typed), "Index a folder" only works under ``index_roots``, heavy jobs are capped.
        models: model ids (``ARCH@FILE`` included) this server lists (``CLIP_EXPLORER_MODELS``, comma-separated).
            Shared: the only models anyone may load. Open: added to the picker's menu and loadable from links
            (a link never names any other file).
        index_roots: folders whose sub-folders "Index a folder" offers (``CLIP_EXPLORER_INDEX_ROOTS``,
            comma-separated). Unset: the collections dir when open, none (the expander hidden) when shared.
        session_jobs: heavy background jobs (renders, word scoring, indexing, attack evaluations) one visitor may
            have running or queued (``CLIP_EXPLORER_SESSION_JOBS``; 0 = no cap; default 1 shared, 0 open).
        max_jobs: heavy jobs running at once in the server; more wait in a queue (``CLIP_EXPLORER_MAX_JOBS``;
            0 = no cap; default 2 shared, 0 open).
        max_model_gb: memory a model may take while it loads, in GB (``CLIP_EXPLORER_MAX_MODEL_GB``; default:
            what /proc/meminfo says is available). A model estimated above it is refused before it is created.
        login: visitors log in with Streamlit's ``st.login`` (OIDC, ``.streamlit/secrets.toml [auth]``) before
            anything is shown (``CLIP_EXPLORER_LOGIN``, default 0).
        uploads: "Index a folder" takes an uploaded zip or image files (``CLIP_EXPLORER_UPLOADS``; default 1 open,
            0 shared). They are saved under ``uploads_dir``.
        upload_max_mb: what one uploaded collection may hold in all, in MB: the files as uploaded and a zip's
            images unpacked (``CLIP_EXPLORER_UPLOAD_MAX_MB``, default 200). Streamlit's ``server.maxUploadSize``
            (MB per file, ``.streamlit/config.toml``) must be at least as large.
    """

    artifacts_dir: Path
    collections_dir: Path
    default_model: str
    device: str
    weights_dir: Path
    prefetch_delay_s: float = DEFAULT_PREFETCH_DELAY_S
    static_from_memory: bool = True
    server_threads: int = field(default_factory=default_server_threads)
    shared: bool = False
    models: tuple[str, ...] = ()
    index_roots: tuple[Path, ...] = ()
    session_jobs: int = 0
    max_jobs: int = 0
    max_model_gb: float | None = None
    login: bool = False
    precision: str = "auto"
    vocab_size: int | None = None
    fv_steps: int | None = None
    uploads: bool = True
    upload_max_mb: int = DEFAULT_UPLOAD_MAX_MB

    @property
    def uploads_dir(self) -> Path:
        """Where uploaded collections are saved: ``<collections>/uploads``, one folder each."""
        return self.collections_dir / "uploads"

    @property
    def listed_models(self) -> tuple[str, ...]:
        """The default model, then ``models`` (each once): what a shared server offers, what links may load."""
        return tuple(dict.fromkeys((self.default_model, *self.models)))


_ENV = ("CLIP_EXPLORER_ARTIFACTS", "CLIP_EXPLORER_COLLECTIONS", "CLIP_EXPLORER_MODEL", "CLIP_EXPLORER_DEVICE",
        "CLIP_EXPLORER_WEIGHTS", "CLIP_EXPLORER_PREFETCH_DELAY", "CLIP_EXPLORER_STATIC_FROM_MEMORY",
        "CLIP_EXPLORER_SERVER_THREADS", "CLIP_EXPLORER_SHARED", "CLIP_EXPLORER_MODELS", "CLIP_EXPLORER_INDEX_ROOTS",
        "CLIP_EXPLORER_SESSION_JOBS", "CLIP_EXPLORER_MAX_JOBS", "CLIP_EXPLORER_MAX_MODEL_GB", "CLIP_EXPLORER_LOGIN",
        "CLIP_EXPLORER_PRECISION", "CLIP_EXPLORER_VOCAB_SIZE", "CLIP_EXPLORER_FV_STEPS", "CLIP_EXPLORER_UPLOADS",
        "CLIP_EXPLORER_UPLOAD_MAX_MB")
CONFIG_ENV = "CLIP_EXPLORER_CONFIG"


def get_settings() -> Settings:
    """Read the settings from the environment (cheap: resolved once per distinct set of values; call it
    where needed, a changed variable takes effect at the next call).

    Raises:
        BadInputError: a value that is not valid; the message names the variable (or the file's key)."""
    file = os.environ.get(CONFIG_ENV) or None
    stamp = None
    if file:
        with contextlib.suppress(OSError):
            stamp = os.stat(file).st_mtime_ns
    return _settings(tuple(os.environ.get(k) for k in _ENV), os.getcwd(), file, stamp)  # cwd: relative paths


@functools.lru_cache(maxsize=16)
def _settings(env: tuple[str | None, ...], _cwd: str, file: str | None = None, _stamp: int | None = None) -> Settings:
    if file:
        from_file = _read_file(file)
        env = tuple(v if v is not None else from_file.get(k) for k, v in zip(_ENV, env))
    (artifacts_env, collections_env, model, device, weights, delay, static, threads, shared, models, roots,
     session_jobs, max_jobs, max_gb, login, precision, vocab, steps, uploads, upload_mb) = env
    artifacts = Path(artifacts_env or REPO_ROOT / "artifacts").resolve()
    collections = Path(collections_env or artifacts / "collections").resolve()
    is_shared = _flag("CLIP_EXPLORER_SHARED", shared, False)
    return Settings(
        artifacts_dir=artifacts,
        collections_dir=collections,
        default_model=(model or "").strip() or DEFAULT_MODEL_ID,
        device=_device(device),
        weights_dir=Path(weights or REPO_ROOT / "weights").resolve(),
        prefetch_delay_s=_seconds("CLIP_EXPLORER_PREFETCH_DELAY", delay, DEFAULT_PREFETCH_DELAY_S),
        static_from_memory=_flag("CLIP_EXPLORER_STATIC_FROM_MEMORY", static, True),
        server_threads=_threads("CLIP_EXPLORER_SERVER_THREADS", threads),
        shared=is_shared,
        models=_model_list("CLIP_EXPLORER_MODELS", models),
        index_roots=_roots("CLIP_EXPLORER_INDEX_ROOTS", roots, () if is_shared else (collections,)),
        session_jobs=_count("CLIP_EXPLORER_SESSION_JOBS", session_jobs, 1 if is_shared else 0),
        max_jobs=_count("CLIP_EXPLORER_MAX_JOBS", max_jobs, 2 if is_shared else 0),
        max_model_gb=_gigabytes("CLIP_EXPLORER_MAX_MODEL_GB", max_gb),
        login=_flag("CLIP_EXPLORER_LOGIN", login, False),
        precision=_precision(precision),
        vocab_size=_positive("CLIP_EXPLORER_VOCAB_SIZE", vocab, "words", "all 12,000"),
        fv_steps=_positive("CLIP_EXPLORER_FV_STEPS", steps, "steps", "256"),
        uploads=_flag("CLIP_EXPLORER_UPLOADS", uploads, not is_shared),
        upload_max_mb=_positive("CLIP_EXPLORER_UPLOAD_MAX_MB", upload_mb, "MB", str(DEFAULT_UPLOAD_MAX_MB))
        or DEFAULT_UPLOAD_MAX_MB,
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




def _bad(message: str):
    from core.errors import BadInputError

    return BadInputError(message)


def _read_file(file: str) -> dict[str, str]:
    """The TOML settings file as raw strings by variable name (lists joined with commas, booleans as 1/0)."""
    import tomllib

    try:
        with open(file, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as err:
        raise _bad(f"{CONFIG_ENV} names {file!r}, which cannot be read ({err.strerror}).") from err
    except tomllib.TOMLDecodeError as err:
        raise _bad(f"{CONFIG_ENV} file {file!r} is not valid TOML: {err}.") from err
    out = {}
    for key, value in data.items():
        name = "CLIP_EXPLORER_" + str(key).upper()
        if name not in _ENV:
            known = ", ".join(n.removeprefix("CLIP_EXPLORER_").lower() for n in _ENV)
            raise _bad(f"{CONFIG_ENV} file {file!r} has an unknown key {key!r}; known keys: {known}.")
        if isinstance(value, bool):
            value = "1" if value else "0"
        elif isinstance(value, list):
            value = ",".join(str(v) for v in value)
        out[name] = str(value)
    return out


def _model_list(name: str, raw: str | None) -> tuple[str, ...]:
    if raw is None or not raw.strip():
        return ()
    ids = [part.strip() for part in raw.split(",")]
    if any(not i or any(c.isspace() or ord(c) < 32 for c in i) for i in ids):
        raise _bad(f"{name} must be model ids separated by commas (e.g. demo,RN50x4@/models/RN50x4.pt), "
                   f"not {raw!r}.")
    return tuple(dict.fromkeys(ids))


def _roots(name: str, raw: str | None, default: tuple[Path, ...]) -> tuple[Path, ...]:
    if raw is None:
        return default
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    if any(not Path(p).is_absolute() for p in parts):
        raise _bad(f"{name} must be absolute folder paths separated by commas (or empty: no folder), not {raw!r}.")
    return tuple(dict.fromkeys(Path(p).resolve() for p in parts))


def _count(name: str, raw: str | None, default: int) -> int:
    if raw is None or not raw.strip():
        return default
    if not raw.strip().isdigit() or int(raw) > 1024:
        raise _bad(f"{name} must be a whole number (0 = no cap), not {raw!r}; unset it to use the default "
                   f"({default}).")
    return int(raw)


def _gigabytes(name: str, raw: str | None) -> float | None:
    if raw is None or not raw.strip():
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 < value <= 1e6:
        raise _bad(f"{name} must be a positive number of gigabytes (e.g. 6 or 0.5), not {raw!r}; unset it to use "
                   "the memory /proc/meminfo says is available.")
    return value


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


def _positive(name: str, raw: str | None, what: str, default: str) -> int | None:
    """A positive whole number, or None (unset: the caller's default)."""
    if raw is None or not raw.strip():
        return None
    if not raw.strip().isdigit() or int(raw) < 1:
        from core.errors import BadInputError

        raise BadInputError(f"{name} must be a whole number of {what} (1 or more), not {raw!r}; unset it to use the "
                            f"default ({default}).")
    return int(raw)

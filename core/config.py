"""Settings of the package: paths and defaults, read from environment variables.

Nothing here does work at import time beyond reading ``os.environ`` on demand.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = REPO_ROOT / "assets"
DEMO_MODEL_DIR = ASSETS_DIR / "demo"
DEFAULT_MODEL_ID = "demo"
MODEL_MENU_FILE = Path(__file__).resolve().parent / "model_menu.json"

# Images larger than this many pixels are refused (Pillow's own decompression-bomb limit is 89.5 MP).
MAX_IMAGE_PIXELS = 89_478_485


@dataclass(frozen=True)
class Settings:
    """Runtime settings.

    Attributes:
        artifacts_dir: where activation artifacts, indexes and caches are written
            (``CLIP_EXPLORER_ARTIFACTS``, default ``<repo>/artifacts``).
        collections_dir: root under which image collections may be read by the UI
            (``CLIP_EXPLORER_COLLECTIONS``, default ``<artifacts>/collections``).
        default_model: model id used when none is given (``CLIP_EXPLORER_MODEL``, default ``demo``).
        device: torch device string (``CLIP_EXPLORER_DEVICE``, default ``cpu``).
        weights_dir: where local weight files are looked up (``CLIP_EXPLORER_WEIGHTS``,
            default ``<repo>/weights``).
    """

    artifacts_dir: Path
    collections_dir: Path
    default_model: str
    device: str
    weights_dir: Path


def get_settings() -> Settings:
    """Read the settings from the environment (cheap; call it where needed)."""
    artifacts = Path(os.environ.get("CLIP_EXPLORER_ARTIFACTS", REPO_ROOT / "artifacts")).resolve()
    collections = Path(os.environ.get("CLIP_EXPLORER_COLLECTIONS", artifacts / "collections")).resolve()
    return Settings(
        artifacts_dir=artifacts,
        collections_dir=collections,
        default_model=os.environ.get("CLIP_EXPLORER_MODEL", DEFAULT_MODEL_ID),
        device=os.environ.get("CLIP_EXPLORER_DEVICE", "cpu"),
        weights_dir=Path(os.environ.get("CLIP_EXPLORER_WEIGHTS", REPO_ROOT / "weights")).resolve(),
    )

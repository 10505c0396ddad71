"""What runs on the Ray workers of ``core.pipeline.ray_engine``: the model reference an actor loads and checks, and the
chunk mapper (a Ray Data actor) that computes a chunk's rows exactly as the local engine does.

Nothing here imports Ray or streamlit; the driver (``core.pipeline.ray_engine``) hands these classes to Ray.
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from core.errors import ArtifactMismatchError
from core.model.hooks import resolve_layer
from core.pipeline.extract import ImageDataset, forward_units
from core.pipeline.layout import ARRAYS
from core.pipeline.partial import WORK

if TYPE_CHECKING:
    from core.model.loading import LoadedModel


@dataclass(frozen=True)
class ModelRef:
    """What an actor needs to load the driver's model: its id, its open_clip config and its fingerprint."""

    model_id: str
    arch: str
    config: dict
    fingerprint: str

    @classmethod
    def of(cls, loaded: LoadedModel) -> ModelRef:
        return cls(loaded.id, loaded.spec.arch, dict(loaded.config), loaded.fingerprint)

    def load(self, device: str):
        """Load the model in a worker and check it is the driver's (same weights, same config)."""
        import open_clip

        from core.model.loading import load_model, register_config

        if self.model_id != "demo" and self.arch not in open_clip.list_models():
            register_config(self.arch, self.config)  # e.g. a config registered only in the driver
        loaded = load_model(self.model_id, device=device)
        if loaded.fingerprint != self.fingerprint:
            raise ArtifactMismatchError(
                f"Worker loaded {self.model_id} with fingerprint {loaded.fingerprint}, the driver has "
                f"{self.fingerprint}: every node must hold the same weights file and code version.")
        return loaded


class ChunkMapper:
    """Ray Data actor: loads the model once, then turns chunk descriptors into the chunk's rows.

    Rows are computed exactly as ``core.pipeline.extract`` (its ``_extract``) does: batches of ``batch_size`` from the chunk's
    first row, unreadable images dropped from the forward pass and left as zero rows, recorded as skipped.
    """

    def __init__(self, model: ModelRef, layer: str, root: str, widths: dict[str, int], batch_size: int,
                 threads: int, device: str, decode_threads: int = 2, crash_once: tuple[int, str] | None = None):
        torch.set_num_threads(max(1, threads))
        self.widths = widths
        self.loaded = model.load(device)
        self.layer = resolve_layer(self.loaded, layer).id
        self.root = Path(root)
        self.batch_size = batch_size
        self.pool = ThreadPoolExecutor(max(1, decode_threads))  # PIL decoding releases the GIL
        self.crash_once = crash_once

    def _maybe_crash(self, chunk: int) -> None:
        """Test hook: kill this worker process the first time it starts ``chunk`` (marker file = once)."""
        if self.crash_once and chunk == self.crash_once[0]:
            marker = Path(self.crash_once[1])
            if not marker.exists():
                marker.write_text(str(os.getpid()))
                os._exit(1)

    def __call__(self, batch: dict) -> dict:
        out: dict[str, list] = {"chunk": [], "skipped": [], **{name: [] for name in WORK}}
        for chunk, start, keys_json in zip(batch["chunk"], batch["start"], batch["keys"]):
            self._maybe_crash(int(chunk))
            rows, skipped = self.compute(int(start), json.loads(str(keys_json)))
            out["chunk"].append(int(chunk))
            out["skipped"].append(json.dumps(skipped))
            for name in WORK:
                out[name].append(rows[name].tobytes())
        return {k: np.array(v, dtype=object) if k not in ("chunk",) else np.array(v, dtype=np.int64)
                for k, v in out.items()}

    def compute(self, start: int, keys: list[str]) -> tuple[dict[str, np.ndarray], dict[str, list]]:
        """Rows ``start .. start+len(keys)`` of the work arrays, and the skipped ones ``{row: [reason, msg]}``."""
        loaded = self.loaded
        ds = ImageDataset(self.root, keys, loaded.preprocess, loaded.image_size)
        blocks: dict[str, list[np.ndarray]] = {name: [] for name in WORK}
        skipped: dict[str, list] = {}
        for b in range(0, len(keys), self.batch_size):
            items = list(self.pool.map(ds.__getitem__, range(b, min(b + self.batch_size, len(keys)))))
            pixels = torch.stack([it[1] for it in items])  # (B, 3, S, S), as the DataLoader collates
            ok = [j for j, it in enumerate(items) if it[2] is None]
            for j, it in enumerate(items):
                if it[2] is not None:
                    skipped[str(start + b + j)] = list(it[2])
            res = forward_units(loaded, self.layer, pixels[ok]) if ok else None
            for name in WORK:
                block = np.zeros((len(items), self.widths[name]), ARRAYS[name][1])  # skipped rows stay zero
                if res is not None:
                    block[ok] = res[name]
                blocks[name].append(block)
        return {name: np.concatenate(v) for name, v in blocks.items()}, skipped

"""Reading the activation artifact store: an on-disk, memory-mapped, manifest-stamped table of one layer (its files
are listed in ``core.pipeline.layout``): the manifest checked against the model, the arrays mapped, per-unit columns
read from the unit-major copies where they exist, and the artifacts under a folder listed.

Nothing here imports torch or streamlit.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import numpy as np

from core.errors import ArtifactError, ArtifactMismatchError
from core.pipeline.commit import recover
from core.pipeline.layout import ARRAYS, FORMAT_VERSION, MANIFEST, PARTIAL_DIR, RESUME_HINT, STATS, UNIT_MAJOR

if TYPE_CHECKING:
    from core.model.loading import LoadedModel

logger = logging.getLogger(__name__)


class RowFile:
    """A row-major ``.npy`` file written and read by row ranges with pwrite/pread (no mapping, flat RSS)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        with open(self.path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = reader(fh)
            self.offset = fh.tell()
        if fortran or len(shape) != 2:
            raise ArtifactError(f"{self.path} is not a row-major 2-D array; {RESUME_HINT} with --overwrite.")
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.row_bytes = self.shape[1] * self.dtype.itemsize

    @classmethod
    def create(cls, path: Path, shape: tuple[int, int], dtype) -> RowFile:
        """Create a zero-filled (sparse) ``.npy`` of ``shape``."""
        dtype = np.dtype(dtype)
        with open(path, "wb") as fh:
            np.lib.format.write_array_header_1_0(
                fh, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": tuple(shape)})
            fh.truncate(fh.tell() + int(np.prod(shape)) * dtype.itemsize)
        return cls(path)

    def write(self, start: int, rows: np.ndarray) -> None:
        data = np.ascontiguousarray(rows, dtype=self.dtype)
        assert data.ndim == 2 and data.shape[1] == self.shape[1] and start + len(data) <= self.shape[0]
        fd = os.open(self.path, os.O_WRONLY)
        try:
            os.pwrite(fd, data.tobytes(), self.offset + start * self.row_bytes)
        except OSError as err:  # ENOSPC from pwrite carries no file name: add it for the one-line CLI message
            raise type(err)(err.errno, err.strerror, str(self.path)) from err
        finally:
            os.close(fd)

    def read(self, start: int, stop: int) -> np.ndarray:
        stop = min(stop, self.shape[0])
        fd = os.open(self.path, os.O_RDONLY)
        try:
            buf = os.pread(fd, (stop - start) * self.row_bytes, self.offset + start * self.row_bytes)
        finally:
            os.close(fd)
        return np.frombuffer(buf, dtype=self.dtype).reshape(stop - start, self.shape[1])

    def read_rows(self, rows) -> np.ndarray:
        """(len(rows), C) the given rows, one pread each on one descriptor (no mapping: nothing stays resident)."""
        out = np.empty((len(rows), self.shape[1]), self.dtype)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for i, r in enumerate(rows):
                out[i] = np.frombuffer(os.pread(fd, self.row_bytes, self.offset + int(r) * self.row_bytes), self.dtype)
        finally:
            os.close(fd)
        return out

    def fsync(self) -> None:
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@dataclass(frozen=True)
class ArtifactInfo:
    """A short description of an artifact directory, for pickers."""

    path: Path
    name: str
    model_id: str
    fingerprint: str
    rows: int
    layer: str
    complete: bool
    created: str


def read_manifest(path: Path) -> dict:
    """The manifest of an artifact directory.

    Raises:
        ArtifactError: no such directory, an unfinished run, or an unreadable/incomplete manifest.
    """
    path = Path(path)
    if not path.is_dir():
        raise ArtifactError(f"No artifact at {path}: the directory does not exist. Create one with "
                            "`python -m core index --model M --images DIR --out DIR`.")
    recover(path)  # a run killed while installing its result, or before removing its work folder
    mpath = path / MANIFEST
    if not mpath.is_file():
        if (path / PARTIAL_DIR).exists():
            raise ArtifactError(f"The artifact at {path} is incomplete (the extraction was interrupted); "
                                f"{RESUME_HINT}.")
        raise ArtifactError(f"{path} is not an artifact (no {MANIFEST}). Create one with "
                            "`python -m core index --model M --images DIR --out DIR`.")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ArtifactError(f"{mpath} is unreadable ({err}); {RESUME_HINT} with --overwrite.") from err
    if not isinstance(manifest, dict) or manifest.get("complete") is not True:
        raise ArtifactError(f"The artifact at {path} is incomplete; {RESUME_HINT}.")
    if manifest.get("format") != FORMAT_VERSION:
        raise ArtifactError(f"{path} has artifact format {manifest.get('format')!r}; this version reads "
                            f"format {FORMAT_VERSION}. Re-create it with --overwrite.")
    return manifest


def check_model(manifest: dict, loaded: LoadedModel, path: Path, layer: str | None = None) -> None:
    """Raise ``ArtifactMismatchError`` unless the artifact was made with ``loaded`` (and ``layer``)."""
    if loaded is not None and manifest["fingerprint"] != loaded.fingerprint:
        raise ArtifactMismatchError(
            f"The artifact at {path} was made with model {manifest['model_id']} (fingerprint "
            f"{manifest['fingerprint']}), but the loaded model is {loaded.id} (fingerprint {loaded.fingerprint}). "
            f"Load {manifest['model_id']}, or index the collection again with this model into another --out.")
    if layer is not None and manifest["layer"] != layer:
        raise ArtifactMismatchError(f"The artifact at {path} holds layer {manifest['layer']}, not {layer}. "
                                    f"Available here: {manifest['layer']}.")


def _safe_key(key: str) -> bool:
    p = PurePosixPath(key)
    return bool(key) and not p.is_absolute() and ".." not in p.parts and "\\" not in key and "\x00" not in key


class Artifact:
    """A complete, read-only artifact; arrays are memory-mapped on first use (see the module docstring)."""

    def __init__(self, path: Path, manifest: dict):
        self.path = Path(path)
        self.manifest = manifest
        self.rows = int(manifest["rows"])
        self.units = int(manifest["units"])
        self.layer = str(manifest["layer"])
        self.model_id = str(manifest["model_id"])
        self.fingerprint = str(manifest["fingerprint"])
        self.grid = tuple(manifest["grid"])
        self.root = Path(manifest["collection"]["root"])
        for name in ARRAYS:
            self._array(name)  # validates every file's header, shape and size now, not at first use
        for stat in UNIT_MAJOR:
            self.unit_major(stat)

    def __repr__(self) -> str:
        return f"Artifact({str(self.path)!r}, model={self.model_id}, layer={self.layer}, rows={self.rows})"

    def _expected_shape(self, name: str) -> tuple[int, ...]:
        k = int(self.manifest["topk"])
        return {"max": (self.rows, self.units), "argmax": (self.rows, self.units), "mean": (self.rows, self.units),
                "emb": (self.rows, int(self.manifest["embed_dim"])), "stats": (4, self.units)}.get(name, (self.units, k))

    def _array(self, name: str) -> np.ndarray:
        cache = self.__dict__.setdefault("_arrays", {})
        if name not in cache:
            fname, dtype = ARRAYS[name]
            try:
                arr = np.load(self.path / fname, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as err:
                raise ArtifactError(f"{self.path / fname} is missing or corrupt ({err}); "
                                    f"{RESUME_HINT} with --overwrite.") from err
            if arr.shape != self._expected_shape(name) or arr.dtype != dtype:
                raise ArtifactError(f"{self.path / fname} has shape {arr.shape} {arr.dtype}, expected "
                                    f"{self._expected_shape(name)} {np.dtype(dtype)}; re-create it with --overwrite.")
            cache[name] = arr
        return cache[name]

    @property
    def max(self) -> np.ndarray:
        """(N, C) float16: pre-ReLU spatial max per unit."""
        return self._array("max")

    @property
    def argmax(self) -> np.ndarray:
        """(N, C) uint16: flat position of the max (``h * W + w``; token index for ViTs)."""
        return self._array("argmax")

    @property
    def mean(self) -> np.ndarray:
        """(N, C) float16: spatial mean per unit."""
        return self._array("mean")

    @property
    def embeddings(self) -> np.ndarray:
        """(N, D) float16: L2-normalised image embeddings."""
        return self._array("emb")

    def stat(self, stat: str = "max") -> np.ndarray:
        """(N, C) activations for ``stat`` in ``("max", "mean")``."""
        return self._array(_check_stat(stat))

    def unit_stats(self, stat: str = "max") -> tuple[np.ndarray, np.ndarray]:
        """Per-unit (mean, std) over the collection of the ``max`` or ``mean`` statistic; (C,) float32 each."""
        i = STATS.index(_check_stat(stat))
        s = self._array("stats")
        return np.asarray(s[2 * i]), np.asarray(s[2 * i + 1])

    @property
    def unit_mean(self) -> np.ndarray:
        """(C,) mean over images of each unit's spatial max."""
        return self.unit_stats("max")[0]

    @property
    def unit_std(self) -> np.ndarray:
        """(C,) std over images of each unit's spatial max."""
        return self.unit_stats("max")[1]

    def unit_major(self, stat: str = "max") -> RowFile | None:
        """The (C, N) unit-major copy of ``stat`` (``max`` or ``argmax``: ``max_by_unit.f16.npy``,
        ``argmax_by_unit.u16.npy``, read with pread), or None when the artifact has none (older artifacts, the
        ``mean`` statistic): per-unit reads then scan a column instead."""
        name = self.manifest.get("unit_major", {}).get(stat if stat == "argmax" else _check_stat(stat))
        if name is None or name != UNIT_MAJOR.get(stat):
            return None
        cache = self.__dict__.setdefault("_arrays", {})
        if f"{stat}_by_unit" not in cache:
            try:
                rf = RowFile(self.path / name)
                size = (self.path / name).stat().st_size
            except (OSError, ValueError, ArtifactError) as err:
                raise ArtifactError(f"{self.path / name} is missing or corrupt ({err}); "
                                    f"{RESUME_HINT} with --overwrite.") from err
            if rf.shape != (self.units, self.rows) or rf.dtype != ARRAYS[stat][1] or \
                    size < rf.offset + self.units * rf.row_bytes:
                raise ArtifactError(f"{self.path / name} has shape {rf.shape} {rf.dtype} ({size} bytes), expected "
                                    f"{(self.units, self.rows)}; re-create it with --overwrite.")
            cache[f"{stat}_by_unit"] = rf
        return cache[f"{stat}_by_unit"]

    def unit_column(self, unit: int, stat: str = "max") -> np.ndarray:
        """(N,) float32 (int64 for ``argmax``): ``unit``'s ``stat`` over every row; one contiguous pread from the unit-major copy when
        the artifact has one (no mapping: RSS stays flat however many units are read), else a column of the
        row-major array (touches every row's page)."""
        if not 0 <= unit < self.units:
            from core.errors import UnitOutOfRangeError

            raise UnitOutOfRangeError(f"Unit {unit} is out of range: valid units are 0..{self.units - 1}.")
        by_unit, dtype = self.unit_major(stat), np.int64 if stat == "argmax" else np.float32
        if by_unit is not None:
            return by_unit.read(unit, unit + 1)[0].astype(dtype)
        return np.asarray((self.argmax if stat == "argmax" else self.stat(stat))[:, unit], dtype=dtype)

    def _ranked(self, which: str, unit: int, k: int, stat: str) -> np.ndarray:
        if not 0 <= unit < self.units:
            from core.errors import UnitOutOfRangeError

            raise UnitOutOfRangeError(f"Unit {unit} is out of range: valid units are 0..{self.units - 1}.")
        pre = self._array(f"{which}_{_check_stat(stat)}")[unit]
        if k <= len(pre):
            return np.array(pre[:k], dtype=np.int64)
        col = self.unit_column(unit, stat)
        order = np.lexsort((np.arange(self.rows), -col if which == "top" else col))
        return order[:k].astype(np.int64)

    def top_rows(self, unit: int, k: int = 48, stat: str = "max") -> np.ndarray:
        """Rows of the ``k`` images that excite ``unit`` most (descending; ties by row)."""
        return self._ranked("top", unit, k, stat)

    def bottom_rows(self, unit: int, k: int = 48, stat: str = "max") -> np.ndarray:
        """Rows of the ``k`` images that inhibit ``unit`` most (ascending; ties by row)."""
        return self._ranked("bottom", unit, k, stat)

    def _json(self, name: str):
        p = self.path / name
        if not p.is_file():
            return None
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise ArtifactError(f"{p} is unreadable ({err}); re-create the artifact with --overwrite.") from err

    @cached_property
    def keys(self) -> list[str]:
        """Relative POSIX paths of the images, row-aligned."""
        keys = self._json("keys.json")
        if not isinstance(keys, list) or len(keys) != self.rows:
            raise ArtifactError(f"{self.path / 'keys.json'} does not hold {self.rows} keys; re-create with --overwrite.")
        bad = [k for k in keys if not isinstance(k, str) or not _safe_key(k)]
        if bad:
            raise ArtifactError(f"{self.path} lists image keys outside its collection root (e.g. {bad[0]!r}); "
                                "refusing to use it.")
        return keys

    def _optional_column(self, name: str) -> list[str] | None:
        col = self._json(name)
        if col is not None and (not isinstance(col, list) or len(col) != self.rows):
            raise ArtifactError(f"{self.path / name} does not hold {self.rows} entries; re-create with --overwrite.")
        return col

    @cached_property
    def labels(self) -> list[str] | None:
        """One label per row, or None."""
        return self._optional_column("labels.json")

    @cached_property
    def captions(self) -> list[str] | None:
        """One caption per row, or None."""
        return self._optional_column("captions.json")

    @cached_property
    def skipped(self) -> list[dict]:
        """Files of the collection that were not used, each ``{key, reason, message}``."""
        return self._json("skipped.json") or []

    def image_path(self, row: int) -> Path:
        """Absolute path of the image of ``row``; never outside the collection root.

        Raises:
            ArtifactError: the row is out of range or its key escapes the root.
        """
        if not 0 <= int(row) < self.rows:
            raise ArtifactError(f"Row {row} is out of range: the artifact has rows 0..{self.rows - 1}.")
        root = self.root.resolve()
        path = (root / self.keys[int(row)]).resolve()
        if not path.is_relative_to(root):
            raise ArtifactError(f"Image {self.keys[int(row)]!r} resolves outside the collection root {root}.")
        return path


def _check_stat(stat: str) -> str:
    if stat not in STATS:
        from core.errors import BadInputError

        raise BadInputError(f"Unknown statistic '{stat}'. Available: {', '.join(STATS)}.")
    return stat


def open_artifact(path: str | os.PathLike, expect=None, *, layer: str | None = None) -> Artifact:
    """Open a complete artifact read-only.

    Args:
        path: the artifact directory.
        expect: a ``LoadedModel``; a different model fingerprint raises ``ArtifactMismatchError``.
        layer: when given, the artifact must hold this layer.

    Raises:
        ArtifactError: missing, incomplete (interrupted run) or corrupt.
        ArtifactMismatchError: made with another model or layer.
    """
    path = Path(path).expanduser().resolve()
    manifest = read_manifest(path)
    check_model(manifest, expect, path, layer)
    art = Artifact(path, manifest)
    if art.root.is_absolute() is False:
        raise ArtifactError(f"{path / MANIFEST} has a relative collection root; re-create with --overwrite.")
    return art


def list_artifacts(root: str | os.PathLike | None = None, *, depth: int = 3) -> list[ArtifactInfo]:
    """Artifact directories under ``root`` (default: the artifacts dir), complete or not, sorted by path."""
    from core.config import get_settings

    base = Path(root) if root else get_settings().artifacts_dir
    found: list[ArtifactInfo] = []
    if not base.is_dir():
        return found
    stack = [(base, 0)]
    while stack:
        d, level = stack.pop()
        if (d / MANIFEST).is_file() or (d / PARTIAL_DIR).is_dir():
            found.append(_info(d))
            continue
        if level < depth:
            try:
                stack.extend((c, level + 1) for c in d.iterdir() if c.is_dir() and not c.name.startswith("."))
            except OSError:
                continue
    return sorted(found, key=lambda i: str(i.path))


def _info(d: Path) -> ArtifactInfo:
    try:
        m = read_manifest(d)
        return ArtifactInfo(d, d.name, m["model_id"], m["fingerprint"], int(m["rows"]), m["layer"], True,
                            m.get("created", ""))
    except ArtifactError:
        return ArtifactInfo(d, d.name, "", "", 0, "", False, "")

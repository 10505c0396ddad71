"""Image collections: reading a folder tree or a CSV/parquet list, the demo index, discovery for pickers.

A collection is a root directory plus a sorted list of unique keys (relative POSIX paths under the root)
with optional labels and captions. Nothing here imports torch or streamlit at module level.
"""
from __future__ import annotations

import logging
import os
import re
import stat
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from core.errors import BadInputError

logger = logging.getLogger(__name__)

TABLE_SUFFIXES = {".csv", ".parquet", ".pq"}
PATH_COLUMNS = ("path", "filepath", "file", "image", "image_path", "filename")


@dataclass(frozen=True)
class Collection:
    """An image collection ready for extraction.

    Attributes:
        root: absolute directory every key is relative to.
        kind: ``folder``, ``csv`` or ``parquet``.
        source: the folder or table file given by the user.
        keys: sorted, unique relative POSIX paths of candidate images.
        labels: one label per key (folder: first sub-folder; table: ``label`` column) or None.
        captions: one caption per key (table ``caption`` column) or None.
        rejected: entries dropped while listing, each ``{"key", "reason", "message"}``.
    """

    root: Path
    kind: str
    source: Path
    keys: list[str]
    labels: list[str] | None = None
    captions: list[str] | None = None
    rejected: list[dict] = field(default_factory=list)


def read_collection(source: str | os.PathLike) -> Collection:
    """List the images of a folder tree or a CSV/parquet table of paths.

    Folder tree: every file with an image suffix (case-insensitive, hidden files ignored); the label of
    ``root/a/b/x.png`` is ``a`` (the first sub-folder, as torchvision's ImageFolder); images directly in the
    root have label ``""``; without any sub-folder there are no labels. Table: a path column (``path``,
    ``filepath``, ``image``...) relative to the table's folder, optional ``label`` and ``caption``.
    Entries that resolve outside the root, duplicates and undecodable names are rejected with a reason.

    Raises:
        BadInputError: the source does not exist, is an unsupported file, has no path column or no images.
    """
    src = Path(source).expanduser()
    if not src.exists():
        raise BadInputError(f"Image collection not found: {src}. Pass a folder of images (sub-folders = labels) "
                            "or a CSV/parquet file with a 'path' column.")
    if src.is_dir():
        coll = _read_folder(src.resolve())
    elif src.suffix.lower() in TABLE_SUFFIXES:
        coll = _read_table(src.resolve())
    else:
        raise BadInputError(f"{src} is neither a folder nor a table; supported tables: "
                            f"{', '.join(sorted(TABLE_SUFFIXES))}.")
    if not coll.keys:
        extra = f" ({len(coll.rejected)} entries rejected, e.g. {coll.rejected[0]['message']})" if coll.rejected else ""
        from core.pipeline.images import IMAGE_SUFFIXES

        raise BadInputError(f"No images found in {src}{extra}. Image suffixes: {', '.join(sorted(IMAGE_SUFFIXES))}.")
    return coll


def _key_problem(key: str) -> str | None:
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return "bad-filename"
    return None


def _inside(root: Path, path: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root)
    except (OSError, RuntimeError):
        return False


def _regular(path: Path) -> bool:
    """A regular file (a symlink counts when its target, inside the root, is one): never a FIFO, device..."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _read_folder(root: Path) -> Collection:
    from core.pipeline.images import IMAGE_SUFFIXES

    found: list[str] = []
    rejected: list[dict] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel_dir = PurePosixPath(Path(dirpath).relative_to(root).as_posix())
        for name in filenames:
            if name.startswith(".") or Path(name).suffix.lower() not in IMAGE_SUFFIXES:
                continue
            key = str(rel_dir / name) if str(rel_dir) != "." else name
            problem = _key_problem(key)
            if problem:
                rejected.append({"key": key.encode("utf-8", "replace").decode(), "reason": problem,
                                 "message": "file name is not valid UTF-8; rename it"})
            elif not _inside(root, root / key):
                rejected.append({"key": key, "reason": "outside-root",
                                 "message": f"{key} links outside the collection root {root}"})
            elif not _regular(Path(dirpath) / name):
                rejected.append({"key": key, "reason": "not-a-file",
                                 "message": f"{key} is not a regular file (a named pipe, socket, device or "
                                            "folder); only regular files are indexed"})
            else:
                found.append(key)
    found.sort()
    has_dirs = any("/" in k for k in found)
    labels = [k.split("/", 1)[0] if "/" in k else "" for k in found] if has_dirs else None
    return Collection(root=root, kind="folder", source=root, keys=found, labels=labels, rejected=rejected)


def _load_table(path: Path):
    import pandas as pd

    try:
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        return pd.read_parquet(path)
    except Exception as err:  # pandas raises many parser error types
        raise BadInputError(f"Cannot read the table {path}: {type(err).__name__}: {err}") from err


def _read_table(path: Path) -> Collection:
    df = _load_table(path)
    cols = {c.lower(): c for c in df.columns}
    path_col = next((cols[c] for c in PATH_COLUMNS if c in cols), None)
    if path_col is None:
        raise BadInputError(f"{path} has no path column. Columns: {', '.join(map(str, df.columns))}; "
                            f"expected one of: {', '.join(PATH_COLUMNS)}.")
    root = path.parent
    label_col, caption_col = cols.get("label"), cols.get("caption")
    entries: dict[str, tuple[str, str]] = {}
    rejected: list[dict] = []
    for i, raw in enumerate(df[path_col].tolist()):
        raw = "" if raw is None else str(raw).strip()
        label = str(df[label_col].iat[i]) if label_col else ""
        caption = str(df[caption_col].iat[i]) if caption_col else ""
        if not raw:
            rejected.append({"key": f"<row {i + 2}>", "reason": "empty-path", "message": f"row {i + 2} has no path"})
            continue
        p = Path(raw).expanduser()
        full = p if p.is_absolute() else root / p
        norm = Path(os.path.normpath(full))
        if not norm.is_relative_to(root) or not _inside(root, norm):
            rejected.append({"key": raw, "reason": "outside-root",
                             "message": f"{raw} is outside {root}; keep images below the table's folder"})
            continue
        key = norm.relative_to(root).as_posix()
        if key in entries:
            rejected.append({"key": key, "reason": "duplicate", "message": f"{key} is listed twice"})
            continue
        entries[key] = (label, caption)
    keys = sorted(entries)
    return Collection(root=root, kind="parquet" if path.suffix.lower() != ".csv" else "csv", source=path,
                      keys=keys, labels=[entries[k][0] for k in keys] if label_col else None,
                      captions=[entries[k][1] for k in keys] if caption_col else None, rejected=rejected)


def slug(text: str) -> str:
    """A file-system-safe name for a model id or collection name."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "x"


def discover_collections(root: Path | None = None, *, model=None) -> list:
    """Complete artifacts under ``root`` (default: the artifacts dir) for a collection picker.

    Args:
        root: directory searched (a few levels deep) for artifact manifests.
        model: a ``LoadedModel``; when given, only artifacts made with that model are returned.

    Returns:
        ``core.pipeline.store.ArtifactInfo`` entries sorted by name.
    """
    from core.pipeline.store import list_artifacts

    infos = [i for i in list_artifacts(root) if i.complete]
    if model is not None:
        infos = [i for i in infos if i.fingerprint == model.fingerprint]
    return infos

"""Uploaded collections: a zip archive or a few image files saved as a folder of images that indexes like any
other (sub-folders are labels). Nothing here imports streamlit or torch.

A zip is read entry by entry and only what is safe becomes a file:

- no entry leaves the folder: absolute names (``/x``, ``C:x``) and any ``..`` are refused, and every file is
  created new (``O_EXCL | O_NOFOLLOW``) inside a fresh folder, checked to resolve below it;
- no symbolic links, devices or other special entries (their Unix mode in the archive), no encrypted entries;
- only images: a name with an image suffix whose header Pillow reads, within the per-image limits of every upload
  (``UPLOAD_MAX_BYTES``, ``UPLOAD_MAX_PIXELS``); anything else is skipped and listed with the reason;
- bounded: at most ``max_files`` images, ``max_entries`` entries and ``max_total_bytes`` unpacked (declared sizes
  are checked before anything is written, the bytes actually read while writing): a zip bomb is refused;
- a corrupt or truncated archive is refused with one line saying so.

Hidden entries (``.x``, ``__MACOSX/``) are left out silently. A single top folder that holds every image is
unwrapped (``animals/cat/1.jpg`` → label ``cat``). The folder is written under a hidden temporary name and renamed
into place when complete, so a half-written upload is never offered for indexing.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import stat
import tempfile
import unicodedata
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from core.config import UPLOAD_MAX_BYTES, UPLOAD_MAX_PIXELS
from core.errors import BadInputError
from core.pipeline.collection import slug
from core.pipeline.images import IMAGE_SUFFIXES

MAX_FILES = 20_000  # images in one upload
MAX_ENTRIES = 100_000  # entries of any kind in one zip (its directory is read into memory)
NAME_CHARS = 60  # a collection name's length
MB = 1024 * 1024


@dataclass(frozen=True)
class UploadLimits:
    """What one upload may hold: in all (``total_bytes``, ``files``, ``entries`` of a zip) and per image."""

    total_bytes: int
    files: int = MAX_FILES
    entries: int = MAX_ENTRIES
    image_bytes: int = UPLOAD_MAX_BYTES
    pixels: int = UPLOAD_MAX_PIXELS


@dataclass(frozen=True)
class SavedUpload:
    """An upload saved as a folder: its path, name (the folder's), images written and entries skipped
    (``{"name", "reason"}`` each)."""

    path: Path
    name: str
    images: int
    skipped: list[dict] = field(default_factory=list)


def save_upload(files: Sequence[tuple[str, BinaryIO | bytes]], uploads_dir: Path, limits: UploadLimits, *,
                taken: Callable[[str], bool] = lambda name: False) -> SavedUpload:
    """Save one upload (a zip, or image files) as a new folder under ``uploads_dir``.

    Args:
        files: (file name as uploaded, its bytes or a binary file) pairs: one ``.zip``, or images.
        uploads_dir: where the folder is made (created if missing).
        limits: the caps (``UploadLimits``).
        taken: names to avoid besides the folders already there (e.g. names whose index exists).

    Returns:
        The ``SavedUpload``; its name comes from the zip's (or the single image's) file name, made safe and
        unique (``cats``, ``cats-2``, ...).

    Raises:
        BadInputError: nothing uploaded, a zip mixed with other files, over a limit, a corrupt archive, or no
            image in it; the message says which and the limit.
    """
    if not files:
        raise BadInputError("Nothing was uploaded: choose a zip of images or image files.")
    zips = [n for n, _ in files if n.lower().endswith(".zip")]
    if zips and len(files) > 1:
        raise BadInputError("Upload one zip, or image files, not both (or two zips): "
                            f"{', '.join(n for n, _ in files)}.")
    total = sum(_size(data) for _, data in files)
    if total > limits.total_bytes:
        raise BadInputError(f"The upload is {total / MB:.1f} MB; the limit is {limits.total_bytes // MB} MB in all.")
    uploads_dir = Path(uploads_dir)
    try:
        uploads_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".upload-", dir=uploads_dir))  # hidden: never offered while written
    except OSError as err:
        raise BadInputError(f"The upload cannot be saved on the server: {uploads_dir} is not a writable folder "
                            f"({err.strerror}).") from None
    try:
        if zips:
            images, skipped = extract_zip(files[0][1], tmp, limits, name=files[0][0])
        else:
            images, skipped = save_images(files, tmp, limits)
        if not images:
            why = "; ".join(f"{s['name']}: {s['reason']}" for s in skipped[:3])
            raise BadInputError("The upload holds no image that can be indexed"
                                + (f" ({len(skipped)} skipped, e.g. {why})." if skipped else " (it is empty)."))
        name = _move_into_place(tmp, uploads_dir, _base_name(files), taken)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return SavedUpload(uploads_dir / name, name, images, skipped)


def extract_zip(source: BinaryIO | bytes, dest: Path, limits: UploadLimits, *, name: str = "the zip"
                ) -> tuple[int, list[dict]]:
    """Write the images of a zip archive into the empty folder ``dest`` (see the module docstring for what is
    refused or skipped). Returns (images written, skipped entries).

    Raises:
        BadInputError: not a readable zip, corrupt data, or over a limit.
    """
    fp = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else _rewound(source)
    with _zip_errors(name):
        zf = zipfile.ZipFile(fp)
    with zf:
        with _zip_errors(name):
            infos = zf.infolist()
        if len(infos) > limits.entries:
            raise BadInputError(f"{name} has {len(infos):,} entries; an upload may have at most {limits.entries:,}.")
        members, skipped = _plan_members(infos, limits)
        if len(members) > limits.files:
            raise BadInputError(f"{name} holds {len(members):,} images; an upload may hold at most "
                                f"{limits.files:,}.")
        declared = sum(info.file_size for info, _ in members)
        if declared > limits.total_bytes:
            raise BadInputError(f"{name} unpacks to {declared / MB:.1f} MB of images; the limit is "
                                f"{limits.total_bytes // MB} MB in all.")
        written = kept = 0
        for info, rel in members:
            with _zip_errors(name), zf.open(info) as member:
                data = member.read(limits.image_bytes + 1)  # zipfile stops at the declared size, checks the CRC
            written += len(data)
            if written > limits.total_bytes:
                raise BadInputError(f"{name} unpacks to more than {limits.total_bytes // MB} MB; refused.")
            problem = image_problem(data, limits) or _write_new(dest, rel, data)
            if problem:
                skipped.append({"name": info.filename, "reason": problem})
            else:
                kept += 1
    return kept, skipped


@contextlib.contextmanager
def _zip_errors(name: str) -> Iterator[None]:
    """What reading a broken archive raises, as one line for the user."""
    try:
        yield
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError, RuntimeError,
            NotImplementedError) as err:
        raise BadInputError(f"{name} is not a readable zip archive ({_reason(err)}). Make the zip again and "
                            "upload it.") from None


def save_images(files: Sequence[tuple[str, BinaryIO | bytes]], dest: Path, limits: UploadLimits
                ) -> tuple[int, list[dict]]:
    """Write uploaded image files into the empty folder ``dest`` under safe, unique names (no labels). Returns
    (images written, skipped files)."""
    if len(files) > limits.files:
        raise BadInputError(f"{len(files):,} files were uploaded; an upload may hold at most {limits.files:,}.")
    kept, skipped, used = 0, [], set()
    for raw_name, source in files:
        base = PurePosixPath(raw_name.replace("\\", "/")).name
        suffix = PurePosixPath(base).suffix.lower()
        if suffix not in IMAGE_SUFFIXES:
            skipped.append({"name": raw_name, "reason": "not an image file"})
            continue
        data = bytes(source) if isinstance(source, (bytes, bytearray)) else \
            _rewound(source).read(limits.image_bytes + 1)
        stem = slug(PurePosixPath(base).stem)[:NAME_CHARS] or "image"
        out = f"{stem}{suffix}"
        n = 2
        while out.lower() in used:
            out, n = f"{stem}-{n}{suffix}", n + 1
        problem = image_problem(data, limits) or _write_new(dest, PurePosixPath(out), data)
        if problem:
            skipped.append({"name": raw_name, "reason": problem})
            continue
        used.add(out.lower())
        kept += 1
    return kept, skipped


def image_problem(data: bytes, limits: UploadLimits) -> str | None:
    """Why ``data`` is not an image an upload may hold (too large, too many pixels, not an image Pillow reads),
    or None. Reads the header only; a picture that fails to decode later is skipped by the indexing."""
    from PIL import Image

    if len(data) > limits.image_bytes:
        return f"over {limits.image_bytes // MB} MB"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
    except Image.DecompressionBombError:
        return f"over {limits.pixels / 1e6:g} MP"
    except Exception:  # noqa: BLE001 - Pillow raises many types for a file that is not an image
        return "not an image Pillow can read"
    if w * h > limits.pixels:
        return f"{w}x{h} is over {limits.pixels / 1e6:g} MP"
    return None


# ---------------------------------------------------------------- zip entries ------------------------------------
def _plan_members(infos: list[zipfile.ZipInfo], limits: UploadLimits
                  ) -> tuple[list[tuple[zipfile.ZipInfo, PurePosixPath]], list[dict]]:
    """The entries to extract, each with its path in the folder, and the entries skipped with a reason."""
    members: list[tuple[zipfile.ZipInfo, list[str]]] = []
    skipped: list[dict] = []
    for info in infos:
        if info.is_dir():
            continue
        parts, problem = _entry_parts(info)
        if parts is None and problem is None:
            continue  # hidden or the archiver's metadata (__MACOSX): left out silently
        if problem is None:
            problem = _entry_kind_problem(info)
        if problem is None and PurePosixPath(parts[-1]).suffix.lower() not in IMAGE_SUFFIXES:
            problem = "not an image file"
        if problem is None and info.file_size > limits.image_bytes:
            problem = f"over {limits.image_bytes // MB} MB"
        if problem:
            skipped.append({"name": info.filename, "reason": problem})
        else:
            members.append((info, parts))
    while members and all(len(p) > 1 for _, p in members) and len({p[0] for _, p in members}) == 1:
        members = [(info, p[1:]) for info, p in members]  # one top folder holding everything: unwrap it
    out, seen = [], set()
    for info, parts in members:
        rel = PurePosixPath(*parts)
        if str(rel).casefold() in seen:
            skipped.append({"name": info.filename, "reason": "the same name twice"})
            continue
        seen.add(str(rel).casefold())
        out.append((info, rel))
    return out, skipped


def _entry_parts(info: zipfile.ZipInfo) -> tuple[list[str] | None, str | None]:
    """An entry's path as folder names and file name, or (None, reason) for a name that leaves the folder or
    cannot be a file name, or (None, None) for a hidden entry."""
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return None, "an absolute path"
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        return None, "a path leaving the archive (..)"
    if not parts:
        return None, "an empty name"
    if any(p.startswith(".") for p in parts) or parts[0] == "__MACOSX":
        return None, None
    parts = [unicodedata.normalize("NFC", p) for p in parts]
    if any(any(ord(c) < 32 or c == "\x7f" for c in p) or len(p.encode("utf-8")) > 200 for p in parts):
        return None, "a name with control characters or too long"
    return parts, None


def _entry_kind_problem(info: zipfile.ZipInfo) -> str | None:
    """Why an entry is not a plain file: a symbolic link, another special file (Unix mode bits), encrypted."""
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_IFMT(mode) and not stat.S_ISREG(mode):
        return "not a regular file"
    if info.flag_bits & 0x1:
        return "encrypted"
    return None


def _write_new(dest: Path, rel: PurePosixPath, data: bytes) -> str | None:
    """Create ``dest/rel`` (a new file, never through a link) with ``data``; returns why not when the name clashes
    with another entry (a file where a folder goes).

    Raises:
        BadInputError: the server cannot write it (a full disk...)."""
    target = dest.joinpath(*rel.parts)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.parent.resolve().is_relative_to(dest.resolve()):
            return "a path leaving the archive"
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except (FileExistsError, NotADirectoryError):
        return "its name clashes with another entry's"
    except OSError as err:
        raise BadInputError(f"The upload cannot be saved on the server ({err.strerror}).") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    except OSError as err:
        raise BadInputError(f"The upload cannot be saved on the server ({err.strerror}).") from None
    return None


# ---------------------------------------------------------------- names ------------------------------------------
def _base_name(files: Sequence[tuple[str, object]]) -> str:
    first = PurePosixPath(files[0][0].replace("\\", "/")).stem if len(files) == 1 else "images"
    name = slug(first)[:NAME_CHARS].strip("-.") if any(c.isalnum() for c in first) else ""
    return name or "upload"


def _move_into_place(tmp: Path, uploads_dir: Path, base: str, taken: Callable[[str], bool]) -> str:
    """Rename the finished folder to the first free name ``base``, ``base-2``, ...; returns that name."""
    for n in range(1, 10_000):
        name = base if n == 1 else f"{base}-{n}"
        target = uploads_dir / name
        if target.exists() or target.is_symlink() or taken(name):
            continue
        try:
            os.rename(tmp, target)  # fails when another upload took the name meanwhile (a non-empty folder)
        except OSError:
            continue
        return name
    raise BadInputError(f"Too many uploads are named {base}; rename the file.")


def _rewound(fh: BinaryIO) -> BinaryIO:
    if hasattr(fh, "seek"):
        fh.seek(0)
    return fh


def _size(data: BinaryIO | bytes) -> int:
    if isinstance(data, (bytes, bytearray)):
        return len(data)
    size = getattr(data, "size", None)
    if isinstance(size, int):
        return size
    pos = data.tell()
    end = data.seek(0, os.SEEK_END)
    data.seek(pos)
    return end


def _reason(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text[:120]

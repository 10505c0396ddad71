"""How a run's result becomes the artifact: one writer per directory (a lock), the finished files staged in the work
folder and installed over the old artifact at the end, and recovery of a run killed on the way."""
from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
from pathlib import Path

from core.errors import ArtifactError
from core.files import fsync_dir
from core.pipeline.layout import INSTALL_LIST, MANIFEST, OWN_FILES, PARTIAL_DIR, STAGE_DIR

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def artifact_lock(path: Path):
    """Hold the exclusive writer lock of the artifact directory ``path`` (created if missing).

    ``fcntl.flock`` on the directory itself: no lock file, released by the kernel when the process dies.

    Raises:
        BadInputError: the directory cannot be created.
        ArtifactError: another run holds the lock (a second ``index`` into the same ``--out``).
    """
    import fcntl

    from core.errors import BadInputError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise BadInputError(f"--out {path} is a file; give a directory.")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise BadInputError(f"--out {path}: cannot create or open the directory ({err.strerror}); choose a "
                            "writable path.") from err
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise ArtifactError(f"Another run is writing into {path} right now; wait for it to finish (then rerun "
                                "this command: it resumes or reuses that result), or choose another --out.") from err
        yield path
    finally:
        os.close(fd)  # releases the lock


def _try_lock(path: Path) -> int | None:
    """The directory's writer lock if free right now (an fd to close), else None."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except OSError:
        os.close(fd)
        return None


def commit_staged(path: Path) -> bool:
    """Install a finished run staged in ``.partial/commit/`` over ``path`` (roll-forward; idempotent).

    The staged ``manifest.json`` is the commit point: once it exists the new artifact is decided, and this
    moves its files into place (the old manifest is removed first, the new one moved last), deletes the old
    artifact's files that the new one does not have (labels, a stale FAISS index) and removes ``.partial/``.
    A crash at any step leaves a state that the next call finishes. Returns whether there was a staged run.
    """
    path = Path(path)
    stage = path / PARTIAL_DIR / STAGE_DIR
    if not (stage / MANIFEST).is_file():
        return False
    names = set(json.loads((stage / INSTALL_LIST).read_text(encoding="utf-8")))
    (path / MANIFEST).unlink(missing_ok=True)
    fsync_dir(path)
    for name in OWN_FILES - names - {PARTIAL_DIR, MANIFEST}:
        (path / name).unlink(missing_ok=True)
    for name in sorted(names - {MANIFEST}):
        if (stage / name).exists():
            os.replace(stage / name, path / name)
    fsync_dir(path)
    os.replace(stage / MANIFEST, path / MANIFEST)
    fsync_dir(path)
    shutil.rmtree(path / PARTIAL_DIR, ignore_errors=True)
    return True


def _leftover_work(path: Path) -> bool:
    """``.partial/`` of a run that is already installed (killed between its commit and the cleanup)."""
    stage = path / PARTIAL_DIR / STAGE_DIR
    if (stage / INSTALL_LIST).is_file() and not (stage / MANIFEST).exists():
        return True  # installed by commit_staged, which stopped before removing .partial/
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        plan = json.loads((path / PARTIAL_DIR / "state.json").read_text(encoding="utf-8"))["plan"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    same = ("fingerprint", "layer", "units", "embed_dim", "collection", "chunk_rows")
    return (isinstance(manifest, dict) and manifest.get("complete") is True and manifest.get("run_id") is not None
            and all(manifest.get(k) == plan.get(k) for k in same) and manifest.get("requested_topk") == plan["topk"])


def recover(path: Path, *, locked: bool = False) -> None:
    """Finish what a killed run left behind in ``path``: install a staged commit, remove leftover work.

    Unfinished work of a run that is not yet committed is kept (rerunning the command resumes it). Without
    ``locked`` this only acts when the writer lock is free (never under a running ``index``), and does nothing
    on a read-only file system.
    """
    path = Path(path)
    if not (path / PARTIAL_DIR).is_dir():
        return
    fd = None if locked else _try_lock(path)
    if not locked and fd is None:
        return
    try:
        if not commit_staged(path) and (path / MANIFEST).is_file() and _leftover_work(path):
            shutil.rmtree(path / PARTIAL_DIR)
            logger.info("removed the leftover work folder of a finished run in %s", path)
    except OSError as err:
        logger.warning("could not tidy %s (%s)", path, err)
    finally:
        if fd is not None:
            os.close(fd)


def remove_artifact_files(path: Path) -> None:
    """Delete an artifact's own files (manifest first, so nothing half-deleted loads as valid)."""
    path = Path(path)
    (path / MANIFEST).unlink(missing_ok=True)
    fsync_dir(path)
    for name in OWN_FILES - {MANIFEST}:
        p = path / name
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink(missing_ok=True)

"""Unit-major copies of per-unit arrays: one unit's values over the whole collection as one contiguous read.

The row-major ``max.f16.npy`` (N, C) serves image lookups; a per-unit view (ranking beyond the stored top-k, the
histogram, samples across the range, conditional-probability buckets) reads one column of it, which touches every
row's page: about 5 GB of pages per neuron at 1,000,000 images x 2,560 units. ``max_by_unit.f16.npy`` (C, N) holds
the same values transposed, so that column is one contiguous 2 MB read. ``write_unit_major`` builds it from a
row file by a blocked transpose (read a block of rows with pread, write each unit's segment with pwrite), in bounded
memory (``BLOCK_BYTES`` plus its transposed copy) and deterministically: the local and Ray engines share it through
``core.pipeline.partial.finalize``, so their artifacts stay byte-identical. Nothing here imports torch or streamlit.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from core.pipeline.layout import UNIT_MAJOR
from core.pipeline.store import RowFile

__all__ = ["UNIT_MAJOR", "write_unit_major"]
BLOCK_BYTES = 32 * 2**20  # row-major bytes read per block


def write_unit_major(src: str | os.PathLike, dst: str | os.PathLike, *, block_bytes: int = BLOCK_BYTES) -> Path:
    """Write the (C, N) transpose of the row-major (N, C) ``.npy`` at ``src`` to ``dst`` (same dtype), streaming.

    Memory: about ``2 * block_bytes``; the file is fsynced before returning.
    """
    rf = RowFile(Path(src))
    n, c = rf.shape
    out = RowFile.create(Path(dst), (c, n), rf.dtype)
    item = rf.dtype.itemsize
    rows = max(1, block_bytes // max(1, rf.row_bytes))
    fd = os.open(out.path, os.O_WRONLY)
    try:
        for s in range(0, n, rows):
            block = np.ascontiguousarray(rf.read(s, s + rows).T)  # (C, b): unit u's segment is block[u]
            for u in range(c):
                os.pwrite(fd, block[u].tobytes(), out.offset + (u * n + s) * item)
        os.fsync(fd)
    finally:
        os.close(fd)
    return out.path

"""The artifact layout: the files of an artifact directory and the names every stage uses for them.

Layout of an artifact directory (row i = image key i everywhere)::

    manifest.json          written LAST, atomically; ``complete: true`` marks a valid artifact
    keys.json              relative POSIX paths under the collection root
    labels.json, captions.json   optional, one entry per row
    max.f16.npy  (N, C)    pre-ReLU spatial max per unit       argmax.u16.npy (N, C) flat position
    mean.f16.npy (N, C)    spatial mean per unit               emb.f16.npy    (N, D) L2-normalised
    top_max.i32.npy / bottom_max.i32.npy / top_mean.i32.npy / bottom_mean.i32.npy  (C, K) rows
    unit_stats.f32.npy (4, C)  mean/std of the max stat, mean/std of the mean stat
    max_by_unit.f16.npy, argmax_by_unit.u16.npy (C, N)  max and argmax unit-major (core.pipeline.columns; absent in
                           older artifacts)
    skipped.json           files not used, each {key, reason, message}
    .partial/              work files of an unfinished run (absent once complete); ``.partial/commit/`` holds
                           a finished run's files until they replace the old ones (``commit_staged``)

"""
from __future__ import annotations

import numpy as np

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PARTIAL_DIR = ".partial"
ARRAYS = {  # name -> (file, dtype)
    "max": ("max.f16.npy", np.float16), "argmax": ("argmax.u16.npy", np.uint16),
    "mean": ("mean.f16.npy", np.float16), "emb": ("emb.f16.npy", np.float16),
    "top_max": ("top_max.i32.npy", np.int32), "bottom_max": ("bottom_max.i32.npy", np.int32),
    "top_mean": ("top_mean.i32.npy", np.int32), "bottom_mean": ("bottom_mean.i32.npy", np.int32),
    "stats": ("unit_stats.f32.npy", np.float32),
}
TEXT_FILES = ("keys.json", "labels.json", "captions.json", "skipped.json")
INDEX_FILES = ("index.faiss", "index.json")
UNIT_MAJOR = {"max": "max_by_unit.f16.npy", "argmax": "argmax_by_unit.u16.npy"}  # (C, N) copies: core.pipeline.columns
OWN_FILES = {MANIFEST, PARTIAL_DIR, *TEXT_FILES, *INDEX_FILES, *UNIT_MAJOR.values(), *(f for f, _ in ARRAYS.values())}
STATS = ("max", "mean")
RESUME_HINT = "rerun the same command to resume"
STAGE_DIR = "commit"  # inside PARTIAL_DIR: a finished run's files, installed over the old artifact at the end
INSTALL_LIST = "install.json"  # in STAGE_DIR: the names the new artifact consists of (written before its manifest)

"""The Ray engine writes the local engine's artifact byte for byte, also after a worker is killed mid-run.

One real local Ray instance (2 CPUs, no dashboard) is started for this module and shut down after it.
The in-process tests exercise the actor class and the driver's commit loop without Ray.
"""
from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import make_image_folder

CHUNK, BATCH, TOPK = 8, 4, 5
RUN_STAMPS = ("created", "run_id")  # differ between any two runs, whatever the engine


@contextlib.contextmanager
def torch_threads(n: int):
    """Run with ``n`` torch intra-op threads (both engines must use the same count for identical bytes)."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@pytest.fixture(scope="module")
def ray_local():
    import os

    import ray

    from core.config import REPO_ROOT

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
             runtime_env={"env_vars": {"PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1",
                                       "TOKENIZERS_PARALLELISM": "false"}})
    try:
        yield ray
    finally:
        ray.shutdown()
        os.environ.pop("RAY_ADDRESS", None)


@pytest.fixture
def collection(tmp_path):
    """30 images in 3 labelled folders plus one corrupt file (skipped by both engines): 4 chunks of 8 rows."""
    imgs = make_image_folder(tmp_path / "images", n_per_class=10)
    (imgs / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n not really")
    return imgs


def local_artifact(loaded, images, out):
    from core.pipeline.extract import run_extraction
    from core.pipeline.index import ensure_index

    with torch_threads(1):
        art = run_extraction(loaded, images, out, batch_size=BATCH, workers=0, chunk_rows=CHUNK, topk=TOPK)
    ensure_index(art)
    return art


def assert_same_artifact(a: Path, b: Path) -> None:
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    for name in names:
        if name == "manifest.json":  # all but the per-run stamps
            ma, mb = (json.loads((d / name).read_text()) for d in (a, b))
            assert {k: v for k, v in ma.items() if k not in RUN_STAMPS} == \
                   {k: v for k, v in mb.items() if k not in RUN_STAMPS}
        elif name == "index.json":
            ia, ib = (json.loads((d / name).read_text()) for d in (a, b))
            for meta in (ia, ib):
                meta["artifact"] = {k: v for k, v in meta["artifact"].items() if k not in RUN_STAMPS}
            assert ia == ib
        else:
            assert (a / name).read_bytes() == (b / name).read_bytes(), f"{name} differs"


def test_cli_ray_engine_matches_local_after_worker_kill(ray_local, tiny_rn, collection, tmp_path, monkeypatch):
    from core.cli import main
    from core.pipeline.ray_engine import CRASH_ENV
    from core.pipeline.store import open_artifact

    local = local_artifact(tiny_rn, collection, tmp_path / "local")
    marker = tmp_path / "worker-killed"
    monkeypatch.setenv(CRASH_ENV, f"2:{marker}")  # the worker that starts chunk 2 exits once (os._exit)
    rc = main(["index", "--model", "tiny-rn/random", "--images", str(collection), "--out", str(tmp_path / "ray"),
               "--engine", "ray", "--ray-workers", "2", "--batch-size", str(BATCH), "--chunk-rows", str(CHUNK),
               "--topk", str(TOPK), "--no-progress"])
    assert rc == 0
    assert marker.is_file(), "the fault-injection hook did not kill a worker"
    assert_same_artifact(local.path, tmp_path / "ray")  # max_by_unit.f16.npy included
    ray_art = open_artifact(tmp_path / "ray", expect=tiny_rn)
    assert ray_art.unit_major() is not None
    assert np.array_equal(np.load(tmp_path / "ray" / "max_by_unit.f16.npy"), np.asarray(ray_art.max).T)
    assert np.array_equal(np.load(tmp_path / "ray" / "argmax_by_unit.u16.npy"), np.asarray(ray_art.argmax).T)
    assert ray_art.rows == 30 and [s["key"] for s in ray_art.skipped] == ["dog/broken.png"]
    for unit in (0, ray_art.units - 1):
        assert np.array_equal(ray_art.top_rows(unit, TOPK), local.top_rows(unit, TOPK))
        assert np.array_equal(ray_art.bottom_rows(unit, TOPK, "mean"), local.bottom_rows(unit, TOPK, "mean"))
    assert ray_local.is_initialized()  # the engine reused the running instance and left it up


def test_workers_that_cannot_be_placed_are_refused(ray_local):
    from core.pipeline.ray_engine import RayUnavailableError, _pool_size

    assert _pool_size(None, 1, 0) == 2 and _pool_size(1, 1, 0) == 1
    with pytest.raises(RayUnavailableError, match="--num-gpus-per-worker 1: the cluster has 0 GPUs"):
        _pool_size(None, 1, 1)
    with pytest.raises(RayUnavailableError, match="--cpus-per-worker 4"):
        _pool_size(2, 4, 0)


def test_chunk_mapper_and_commit_loop_reproduce_local(tiny_rn, collection, tmp_path):
    """Driver loop without Ray: half the chunks done by an interrupted local run, the rest by the actor class,
    a duplicate (retried) chunk result ignored -> the finished artifact equals the local one."""
    from core.model.hooks import article_layer, resolve_layer
    from core.pipeline.collection import read_collection
    from core.pipeline.extract import PARTIAL_DIR, run_extraction
    from core.pipeline.partial import finalize, open_work
    from core.pipeline.plan import make_plan, prepare_out
    from core.pipeline.ray_engine import _commit_chunks, chunk_descriptors
    from core.pipeline.ray_worker import ChunkMapper, ModelRef

    local = local_artifact(tiny_rn, collection, tmp_path / "local")
    out = tmp_path / "mixed"

    class Stop(Exception):
        pass

    def stop_after_two_chunks(done, total):
        if done >= 2 * CHUNK:
            raise Stop

    with torch_threads(1), pytest.raises(Stop):
        run_extraction(tiny_rn, collection, out, batch_size=BATCH, workers=0, chunk_rows=CHUNK, topk=TOPK,
                       progress=stop_after_two_chunks)
    coll = read_collection(collection)
    plan = make_plan(tiny_rn, resolve_layer(tiny_rn, article_layer(tiny_rn)), coll, TOPK, CHUNK)
    assert prepare_out(out.resolve(), plan, False) is None
    state = open_work(out.resolve() / PARTIAL_DIR, plan, len(coll.keys))
    assert state["done"] == [0, 1]
    todo = chunk_descriptors(coll.keys, CHUNK, set(state["done"]))
    assert [d["chunk"] for d in todo] == [2, 3]
    widths = {"max": plan["units"], "argmax": plan["units"], "mean": plan["units"], "emb": plan["embed_dim"]}
    with torch_threads(1):
        mapper = ChunkMapper(ModelRef.of(tiny_rn), plan["layer"], str(coll.root), widths, BATCH, 1, "cpu")
        results = [mapper({k: np.array([d[k]]) for k in d}) for d in todo + todo[:1]]  # chunk 2 twice
    rows = [{k: v[0] for k, v in r.items()} for r in results]
    _commit_chunks(rows, out.resolve() / PARTIAL_DIR, state, len(coll.keys), CHUNK, None)
    art = finalize(out.resolve(), plan, coll, state)
    for name in ("max", "argmax", "mean", "embeddings"):
        assert np.array_equal(getattr(art, name), getattr(local, name)), name
    for name in ("max_by_unit.f16.npy", "argmax_by_unit.u16.npy"):
        assert (art.path / name).read_bytes() == (local.path / name).read_bytes(), name
    for unit in range(art.units):
        assert np.array_equal(art.top_rows(unit, TOPK), local.top_rows(unit, TOPK))


def test_worker_refuses_other_weights(tiny_rn):
    from dataclasses import replace

    from core.errors import ArtifactMismatchError
    from core.pipeline.ray_worker import ModelRef

    ref = replace(ModelRef.of(tiny_rn), fingerprint="0" * 16)
    with pytest.raises(ArtifactMismatchError, match="same weights"):
        ref.load("cpu")


def test_missing_ray_is_a_clear_cli_error(tiny_rn, collection, tmp_path, monkeypatch, capsys):
    from core.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    rc = main(["index", "--model", "tiny-rn/random", "--images", str(collection), "--out", str(tmp_path / "o"),
               "--engine", "ray", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "requirements-ray.txt" in err and "Traceback" not in err
    assert not (tmp_path / "o" / "manifest.json").exists()


def test_image_list_from_table_shards(tiny_rn, tmp_path):
    """A glob or a .txt list of CSV/parquet shards reads as one collection (keys rebased on the common folder)."""
    import pandas as pd

    from core.cli import main
    from core.errors import BadInputError
    from core.pipeline.collection import read_collection
    from core.pipeline.ray_engine import read_image_list
    from core.pipeline.store import open_artifact

    for part, classes in (("a", ("cat", "dog")), ("b", ("boat",))):
        make_image_folder(tmp_path / "data" / part, n_per_class=3, classes=classes, seed=len(part))
        rows = [{"path": f"{c}/{i}.png", "label": c} for c in classes for i in range(3)]
        pd.DataFrame(rows).to_parquet(tmp_path / "data" / part / "list.parquet")
    pd.DataFrame(rows[:1]).to_csv(tmp_path / "data" / "b" / "again.csv", index=False)  # a duplicate entry
    combined = [{"path": f"{p}/{c}/{i}.png", "label": c} for p, cs in (("a", ("cat", "dog")), ("b", ("boat",)))
                for c in cs for i in range(3)]
    pd.DataFrame(combined).to_csv(tmp_path / "data" / "all.csv", index=False)
    whole = read_collection(tmp_path / "data" / "all.csv")
    shards = read_image_list(str(tmp_path / "data" / "*" / "*.parquet"))
    assert shards.root == whole.root and shards.keys == whole.keys and shards.labels == whole.labels
    (tmp_path / "data" / "shards.txt").write_text("# shards\na/list.parquet\nb/list.parquet\nb/again.csv\n")
    listed = read_image_list(tmp_path / "data" / "shards.txt")
    assert listed.keys == whole.keys and [r["reason"] for r in listed.rejected] == ["duplicate"]
    with pytest.raises(BadInputError, match="No table shard matches"):
        read_image_list(str(tmp_path / "nowhere" / "*.parquet"))
    rc = main(["index", "--model", "tiny-rn/random", "--images", str(tmp_path / "data" / "*" / "*.parquet"),
               "--out", str(tmp_path / "art"), "--workers", "0", "--no-progress"])
    art = open_artifact(tmp_path / "art")
    assert rc == 0 and art.keys == whole.keys and art.manifest["collection"]["kind"] == "shards"

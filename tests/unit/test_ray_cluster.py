"""A Ray cluster that loses a node: the run completes and the artifact equals the local engine's byte for byte.

A head (no CPUs) and three worker nodes, each its own ``ray start`` with 1 CPU (``benchmarks/local_cluster.py``),
all on 127.0.0.1; two model actors; once chunks are committed, the raylet of a node running an actor and every
process under it get SIGKILL. Ray restarts the lost actor on the spare node and the engine's chunks are retried.
"""
from __future__ import annotations

import json
import threading
import time

import pytest

from tests.conftest import make_image_folder
from tests.unit.test_ray_engine import BATCH, CHUNK, TOPK, assert_same_artifact, local_artifact

pytest.importorskip("ray.data")


def test_cluster_node_killed_mid_run_gives_the_local_artifact(tiny_rn, tmp_path, monkeypatch):
    from benchmarks.local_cluster import DRIVER_ENV, LocalCluster
    from core.cli import main
    from core.pipeline.extract import PARTIAL_DIR
    from core.pipeline.store import open_artifact

    images = make_image_folder(tmp_path / "images", n_per_class=80)  # 240 images: 30 chunks of 8
    local = local_artifact(tiny_rn, images, tmp_path / "local")
    out = tmp_path / "ray"
    for k, v in DRIVER_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with LocalCluster(workers=3) as cluster:
        seen: dict = {}

        def kill_when_chunks_committed():
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline and "pids" not in seen:
                try:
                    done = json.loads((out / PARTIAL_DIR / "state.json").read_text())["done"]
                except (OSError, ValueError, KeyError):
                    done = []
                node = cluster.busy_node() if len(done) >= 2 else None
                if node:
                    seen.update(done=len(done), node=node, pids=cluster.kill_node(node))
                time.sleep(0.05)

        killer = threading.Thread(target=kill_when_chunks_committed, daemon=True)
        killer.start()
        rc = main(["index", "--model", "tiny-rn/random", "--images", str(images), "--out", str(out),
                   "--engine", "ray", "--address", cluster.address, "--ray-workers", "2",
                   "--batch-size", str(BATCH), "--chunk-rows", str(CHUNK), "--topk", str(TOPK), "--no-progress"])
        seen.setdefault("pids", None)  # stop the killer if the run ended first
        killer.join(10)
        assert rc == 0
        assert seen["pids"], "no node was killed during the run"
        assert 2 <= seen["done"] < 30, f"the node was killed after {seen['done']} of 30 chunks"
        assert seen["node"] not in cluster.raylets()  # the node stays dead
    assert_same_artifact(local.path, out)
    assert open_artifact(out, expect=tiny_rn).rows == 240

"""A Ray cluster of several nodes on this machine, started with ``ray start`` and stopped by process id.

The head node has no CPUs (it only schedules); each worker node is its own ``ray start --address`` with
``--num-cpus`` CPUs and a ``node_i`` resource, i.e. its own raylet, object store and worker processes, as a node
of a real cluster. Everything listens on 127.0.0.1 and lives under one temp dir; ``stop`` kills only the
processes whose command line names that temp dir (never ``ray stop``, which would stop every Ray on the machine).
``kill_node`` SIGKILLs one worker node's raylet and everything under it (its workers and agents).
Used by ``tests/unit/test_ray_cluster.py`` and ``benchmarks/bench_ray_nodes.py``.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
# Dead nodes are noticed in ~3 s instead of ~30 s (the GCS health check of every raylet).
FAST_FAILURE = {"RAY_health_check_period_ms": "500", "RAY_health_check_timeout_ms": "1000",
                "RAY_health_check_failure_threshold": "3", "RAY_health_check_initial_delay_ms": "0"}
# Ray turns token authentication on by itself where ~/.ray/auth_token exists, on some nodes but not others; a
# loopback-only test cluster runs without it (drivers connecting to it need the same setting: ``DRIVER_ENV``).
DRIVER_ENV = {"RAY_AUTH_MODE": "disabled"}


def _psutil():
    import psutil
    import ray  # noqa: F401  (Ray ships psutil in its thirdparty_files, put on the path by this import)

    return psutil


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalCluster:
    """``with LocalCluster(workers=3) as c: ... c.address ...``; ``c.kill_node(i)``; stops everything on exit."""

    def __init__(self, workers: int, *, cpus_per_worker: int = 1, env: dict[str, str] | None = None,
                 timeout: float = 120):
        self.workers, self.cpus, self.timeout = workers, cpus_per_worker, timeout
        self.temp = Path(tempfile.mkdtemp(prefix="rc", dir="/tmp"))  # short: Ray's socket paths have a limit
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env = {**os.environ, **FAST_FAILURE, **DRIVER_ENV, **(env or {})}
        self.env.pop("RAY_ADDRESS", None)
        self.killed: list[int] = []

    def _ray(self, *args: str) -> None:
        subprocess.run([RAY, "start", *args, "--disable-usage-stats", f"--temp-dir={self.temp}"], env=self.env,
                       check=True, capture_output=True, text=True, timeout=self.timeout)

    def start(self) -> LocalCluster:
        try:
            self._ray("--head", "--node-ip-address=127.0.0.1", f"--port={self.port}", "--num-cpus=0",
                      "--include-dashboard=false")
            for i in range(self.workers):
                self._ray(f"--address={self.address}", "--node-ip-address=127.0.0.1", f"--num-cpus={self.cpus}",
                          f"--resources={json.dumps({f'node_{i}': 1})}")
            self._wait_nodes(self.workers + 1)
        except BaseException as err:
            self.stop()
            if isinstance(err, subprocess.CalledProcessError):
                raise RuntimeError(f"ray start failed: {err.stderr[-2000:]}") from err
            raise
        return self

    def _wait_nodes(self, count: int) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if len(self.raylets()) >= count:
                return
            time.sleep(0.5)
        raise RuntimeError(f"only {len(self.raylets())} of {count} Ray nodes came up in {self.timeout:.0f} s")

    def processes(self):
        """Every process of this cluster (its command line names the temp dir)."""
        psutil = _psutil()

        out = []
        for p in psutil.process_iter(["pid", "cmdline"]):
            try:
                if any(str(self.temp) in a for a in (p.info["cmdline"] or [])):
                    out.append(p)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return out

    def raylets(self) -> dict[str, object]:
        """``{"head" | "node_i": raylet process}``."""
        out = {}
        for p in self.processes():
            cmd = " ".join(p.info["cmdline"] or [])
            if "/raylet" not in (p.info["cmdline"] or [""])[0]:
                continue
            names = [f"node_{i}" for i in range(self.workers) if f"node_{i}," in cmd or f'"node_{i}"' in cmd]
            out[names[0] if names else "head"] = p
        return out

    def busy_node(self) -> str | None:
        """A worker node whose raylet runs an actor (a ``ray::`` worker that is not idle), if any."""
        psutil = _psutil()

        for name, raylet in sorted(self.raylets().items()):
            if name == "head":
                continue
            try:
                kids = raylet.children(recursive=True)
                if any(k.name().startswith("ray::") and "IDLE" not in k.name() for k in kids):
                    return name
            except psutil.NoSuchProcess:
                continue
        return None

    def kill_node(self, name: str) -> list[int]:
        """SIGKILL node ``name``'s raylet and every process under it; returns their ids."""
        psutil = _psutil()

        raylet = self.raylets()[name]
        procs = [raylet, *raylet.children(recursive=True)]
        for p in procs:
            try:
                p.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        self.killed += [p.pid for p in procs]
        return [p.pid for p in procs]

    def stop(self) -> None:
        psutil = _psutil()

        for _ in range(3):
            procs = self.processes()
            if not procs:
                break
            for p in procs:
                try:
                    p.send_signal(signal.SIGKILL)
                except psutil.NoSuchProcess:
                    pass
            psutil.wait_procs(procs, timeout=5)
        shutil.rmtree(self.temp, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

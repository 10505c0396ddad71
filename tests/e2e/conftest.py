"""A real dashboard server (``streamlit run dashboard.py``) on a loopback port, and Debian's Chromium.

The server runs the embedded default model (``demo``) with a fresh artifacts dir, so the first page view
also exercises first-use indexing of the demo collection. Never downloads a browser.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = REPO / "test-artifacts" / "e2e"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(artifacts: Path, log: Path, *, model: str | None = None, script: str = "dashboard.py",
                 env: dict | None = None, cwd: Path | None = None) -> tuple[subprocess.Popen, str]:
    """Start the dashboard (``script``, a server definition of it) headless on a free loopback port, with ``env``
    added to the environment, from ``cwd`` (default: this checkout); wait for /_stcore/health."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CLIP_EXPLORER_ARTIFACTS": str(artifacts), "PYTHONUNBUFFERED": "1",
           **(env or {})}  # a caller's value wins, whichever variable it sets
    env.pop("CLIP_EXPLORER_COLLECTIONS", None)
    if model:
        env["CLIP_EXPLORER_MODEL"] = model
    else:
        env.pop("CLIP_EXPLORER_MODEL", None)
    cmd = [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    proc = subprocess.Popen(cmd, cwd=cwd or REPO, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(base + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc, base
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"streamlit did not answer /_stcore/health in 90 s:\n{log.read_text()[-3000:]}")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(base URL, server log path) of a dashboard on the demo model with empty artifacts."""
    from core import config

    if not (config.DEMO_MODEL_DIR / "weights.safetensors").is_file():
        pytest.fail(f"the embedded demo model ({config.DEMO_MODEL_DIR}) is missing; the browser test runs on it")
    tmp = tmp_path_factory.mktemp("e2e")
    log = tmp / "streamlit.log"
    proc, base = start_server(tmp / "artifacts", log)
    yield base, log
    stop_server(proc)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); "
                    ".ci/run and ./run.sh test do it when run as root")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def shots():
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS

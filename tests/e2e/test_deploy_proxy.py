"""The deployment recipe (docs/deploying.md), run for real: the dashboard in shared mode with the flags of
``deploy/clip-explorer.service``'s ExecStart (bound to 127.0.0.1, XSRF on), behind nginx with
``deploy/nginx-clip-explorer.conf`` (its two ports swapped for free loopback ones), fetched through the proxy in
headless Chromium: the page renders over the proxied websocket, with no exception. The unit file itself is checked
with ``systemd-analyze verify``.

Skipped cleanly where nginx (or systemd-analyze) is missing; ``.ci/run`` and ``./run.sh test`` install nginx as root.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO, free_port, start_server, stop_server

pytestmark = pytest.mark.e2e

DEPLOY = REPO / "deploy"
NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
T = 120_000


def exec_start_flags() -> list[str]:
    """The ``--server.*``/``--browser.*``/``--client.*`` flags of the unit's ExecStart (port and address included)."""
    line = next(ln for ln in (DEPLOY / "clip-explorer.service").read_text().splitlines() if ln.startswith("ExecStart="))
    words = shlex.split(line.removeprefix("ExecStart="))
    return words[words.index("dashboard.py") + 1:]


def nginx_conf(tmp: Path, listen: int, upstream: int) -> Path:
    """A whole nginx.conf around the site file (pid, logs and temp files in ``tmp``), with its ports swapped."""
    site = (DEPLOY / "nginx-clip-explorer.conf").read_text()
    site, n1 = re.subn(r"server 127\.0\.0\.1:8501;", f"server 127.0.0.1:{upstream};", site)
    site, n2 = re.subn(r"listen 80;", f"listen 127.0.0.1:{listen};", site)
    assert n1 == n2 == 1, "the site file's upstream or listen line changed: update this test"
    (tmp / "site.conf").write_text(site)
    temps = "\n".join(f"    {d}_temp_path {tmp / d};" for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = tmp / "nginx.conf"
    conf.write_text(f"""{user}worker_processes 1;
daemon off;
pid {tmp / 'nginx.pid'};
error_log {tmp / 'error.log'} info;
events {{ worker_connections 256; }}
http {{
    access_log {tmp / 'access.log'};
{temps}
    include {tmp / 'site.conf'};
}}
""")
    return conf


def test_the_unit_file_verifies(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    unit = (DEPLOY / "clip-explorer.service").read_text().replace("/opt/clip-explorer/.venv/bin/python", sys.executable)
    (tmp_path / "clip-explorer.service").write_text(unit)
    out = subprocess.run([analyze, "verify", str(tmp_path / "clip-explorer.service")], capture_output=True, text=True,
                         timeout=60)
    problems = [ln for ln in (out.stdout + out.stderr).splitlines()
                if "clip-explorer.service" in ln and "not executable" not in ln]
    assert not problems, problems


def test_shared_dashboard_behind_nginx_renders_through_the_proxy(tmp_path, browser):
    if NGINX is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light; .ci/run does it)")
    flags = exec_start_flags()
    assert flags[flags.index("--server.address") + 1] == "127.0.0.1"
    assert flags[flags.index("--server.enableXsrfProtection") + 1] == "true"
    log = tmp_path / "streamlit.log"
    proc, base = start_server(tmp_path / "artifacts", log, env={"CLIP_EXPLORER_SHARED": "1",
                                                                "CLIP_EXPLORER_MODELS": "demo"})
    proxy = None
    try:
        upstream = int(base.rsplit(":", 1)[1])
        listen = free_port()
        conf = nginx_conf(tmp_path, listen, upstream)
        check = subprocess.run([NGINX, "-t", "-c", str(conf), "-p", str(tmp_path)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        proxy = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(tmp_path)], stderr=subprocess.PIPE)
        front = f"http://127.0.0.1:{listen}"
        _wait_health(front, proxy, tmp_path)
        ctx = browser.new_context(viewport={"width": 1300, "height": 1200})
        page = ctx.new_page()
        page.goto(front + "/?model=RN50%40%2Fetc%2Fpasswd", timeout=T)  # a link naming a file: refused
        # The page renders over the proxied websocket: the sidebar's picker on the listed model, then the card or
        # (first use of a fresh artifacts dir) the demo collection's indexing progress.
        page.locator("[data-testid='stSidebar']").get_by_text("units in this layer").first.wait_for(timeout=T)
        page.locator("h2", has_text=re.compile(r"^Unit \d+$")).first.or_(
            page.get_by_text("Indexing the demo collection").first).wait_for(timeout=T)
        assert page.locator("[data-testid='stException']").count() == 0
        assert "model=demo" in page.evaluate("location.href")
        assert page.get_by_text("Index a folder").count() == 0  # shared, no CLIP_EXPLORER_INDEX_ROOTS: hidden
        ctx.close()  # nginx logs the websocket when it closes
        _wait_for(lambda: re.search(r'"GET /_stcore/stream HTTP/1.1" 101 ', (tmp_path / "access.log").read_text()))
    finally:
        if proxy is not None:
            proxy.terminate()
            proxy.wait(timeout=10)
        stop_server(proc)


def _wait_health(front: str, proxy: subprocess.Popen, tmp: Path) -> None:
    deadline = time.time() + 30
    while time.time() < deadline:
        if proxy.poll() is not None:
            raise RuntimeError(f"nginx exited: {proxy.stderr.read().decode()} {(tmp / 'error.log').read_text()}")
        try:
            with urllib.request.urlopen(front + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("nginx did not answer /_stcore/health in 30 s")


def _wait_for(condition, timeout: float = 10.0) -> None:
    end = time.time() + timeout
    while not condition():
        assert time.time() < end, "timed out"
        time.sleep(0.1)

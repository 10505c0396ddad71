"""The dashboard's server with the benchmark's timing probe in every page (``page_probe``), for
``bench_browser.py --plain``. Started as ``streamlit run benchmarks/probe_app.py`` from the repository root with
``BENCH_PROBE_OUT`` naming the file the pages' reports go to; it serves ``dashboard.py`` as it is, or the script that
``BENCH_PROBE_SCRIPT`` names (``empty_app.py``, ``shell_app.py``: the first-load floors)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

import streamlit as st  # noqa: E402
from bench_browser import SETTLED_JS  # noqa: E402
from page_probe import PageProbe, report_script  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

import dashboard  # noqa: E402

app = st.App(os.environ.get("BENCH_PROBE_SCRIPT") or dashboard.__file__, middleware=[
    Middleware(PageProbe, script=report_script(SETTLED_JS), out=os.environ["BENCH_PROBE_OUT"]),
    *dashboard.server_middleware()])

"""The dashboard's shell (navigation, sidebar pickers, model and collection loaded) with no page under it, for
``bench_browser.py --plain``: its first load is the floor every page of the dashboard starts from."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import streamlit as st  # noqa: E402

import dashboard  # noqa: E402

dashboard.shell()  # the page it returns is not run
st.title("Shell only")

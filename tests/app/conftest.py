"""AppTest fixtures: the dashboard pointed (through settings env vars) at a tiny real model and a tiny
indexed collection in a temporary artifacts dir. No mocking: the real extraction, index and model run."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from tests.conftest import TINY_RN, make_image_folder

REPO = Path(__file__).resolve().parents[2]
PAGES = REPO / "pages"
MODEL_ID = f"{TINY_RN}/random"


def _set_env(env: dict[str, str]) -> dict[str, str | None]:
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    return old


def _restore(old: dict[str, str | None]) -> None:
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def indexed_artifacts(tmp_path_factory, tiny_rn) -> Path:
    """<tmp>/artifacts with a 12-image collection 'shapes' indexed by tiny-rn/random (+ its FAISS index)."""
    from core.pipeline.extract import run_extraction
    from core.pipeline.index import ensure_index

    root = tmp_path_factory.mktemp("dash") / "artifacts"
    folder = make_image_folder(root / "collections" / "shapes", n_per_class=4, size=64)
    art = run_extraction(tiny_rn, folder, root / "indexes" / "shapes", workers=0, topk=8)
    ensure_index(art)
    return root


@contextlib.contextmanager
def dashboard_env(artifacts: Path):
    """Point the app at the tiny model and ``artifacts``; derived caches cleared on the way in and out."""
    import streamlit as st

    old = _set_env({"CLIP_EXPLORER_MODEL": MODEL_ID, "CLIP_EXPLORER_ARTIFACTS": str(artifacts)})
    os.environ.pop("CLIP_EXPLORER_COLLECTIONS", None)
    st.cache_data.clear()
    try:
        yield artifacts
    finally:
        _restore(old)
        st.cache_data.clear()


@pytest.fixture
def app_env(indexed_artifacts):
    """Point the app at the tiny model and the indexed collection; clear derived caches."""
    with dashboard_env(indexed_artifacts) as artifacts:
        yield artifacts


@pytest.fixture
def empty_env(tmp_path, tiny_rn):
    """The tiny model with an empty artifacts dir (no collection indexed yet)."""
    import streamlit as st

    old = _set_env({"CLIP_EXPLORER_MODEL": MODEL_ID, "CLIP_EXPLORER_ARTIFACTS": str(tmp_path / "empty")})
    st.cache_data.clear()
    yield tmp_path / "empty"
    _restore(old)
    st.cache_data.clear()


def app(path: str | Path):
    """An AppTest of a repo file with the long timeout torch imports need."""
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(REPO / path), default_timeout=60)


def index_panel_open(at):
    """``at`` with the sidebar's "Index a folder" expander open (it draws its content only while open)."""
    at.session_state["index_panel"] = True
    return at


def query_param(at, name: str) -> str:
    """One query parameter of an AppTest run as a string."""
    value = at.query_params[name]
    return value if isinstance(value, str) else value[0]


def charts(at) -> list:
    """The Altair/Vega-Lite chart elements of an AppTest run."""
    return at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")


def html_blocks(at) -> dict[str, str]:
    """The HTML of each ``ui.html_block`` (an ``st.components.v2`` element) of an AppTest run, by key."""
    import json

    out = {}
    for el in at.get("bidi_component"):
        key = el.proto.id.rsplit("-", 1)[-1]
        out[key] = json.loads(el.proto.json)["html"]
    return out


def svg_bars(markup: str) -> list[dict]:
    """The bars of an SVG chart (``core.svg_charts.bars_svg``) in drawing order: kind, label, value."""
    import html
    import re

    return [{"kind": html.unescape(k), "label": html.unescape(lab), "value": float(v)}
            for k, lab, v in re.findall(r'<rect data-bar="([^"]*)" data-label="([^"]*)" data-value="([^"]*)"', markup)]


def tile_grids(at) -> list[list[tuple[str, str]]]:
    """The dataset-example grids of an AppTest run (``ui.html.grid_html`` blocks, inside ``st.html`` elements
    or ``html_block`` components) as lists of (JPEG data URI, caption), in page order."""
    import html
    import re

    cell = re.compile(r'<img alt="[^"]*" width="\d+" height="\d+" src="(data:image/jpeg;base64,[^"]+)"/>'
                      r'<figcaption[^>]*>([^<]*)</figcaption>')
    sources = [_html_of(el) for el in _in_page_order(at._tree) if el.type in ("html", "bidi_component")]
    return [[(uri, html.unescape(cap)) for uri, cap in cell.findall(block)]
            for src in sources for block in src.split("<div data-grid")[1:]]


def html_table(at, key: str):
    """The table (``ui.html.table_html``) in the ``html_block`` ``key`` as a DataFrame of its cell texts."""
    import html
    import re

    import pandas as pd

    block = html_blocks(at)[key]
    head = [html.unescape(h) for h in re.findall(r"<th(?:\s[^>]*)?>(.*?)</th>", block)]
    rows = [[html.unescape(c) for c in re.findall(r"<td(?:\s[^>]*)?>(.*?)</td>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", block) if "<td" in row]
    return pd.DataFrame(rows, columns=head)


def _in_page_order(node):
    """The elements under an AppTest node, depth first (the order the page shows them, sidebar first)."""
    children = getattr(node, "children", None)
    if children is None:
        yield node
        return
    for i in sorted(children):
        yield from _in_page_order(children[i])


def _html_of(el) -> str:
    import json

    return el.value if el.type == "html" else json.loads(el.proto.json)["html"]


def trigger(at, key: str, event: str, value):
    """Run ``at`` as if the browser had sent the ``html_block`` component ``key``'s trigger ``event`` = ``value``
    (what a click on a ``data-unit`` element does in the page); returns ``at``."""
    import json

    from streamlit.components.v2.bidi_component.main import _make_trigger_id

    comp = next(el for el in at.get("bidi_component") if el.proto.id.rsplit("-", 1)[-1] == key)
    states = at._tree.get_widget_states()
    state = states.widgets.add()
    state.id = _make_trigger_id(comp.proto.id, "events")
    state.json_trigger_value = json.dumps([{"event": event, "value": value}])
    return at._run(states)


@pytest.fixture(scope="session")
def demo_artifacts() -> Path:
    """An artifacts dir with the demo collection indexed by the embedded ``demo`` model: what a visitor gets with
    no settings. Kept in test-artifacts/demo-index/ (git-ignored) between runs: indexing the corpus takes minutes
    on a busy 2-core machine; ``ensure_demo_index`` rebuilds it when the model changed."""
    from core.pipeline.demo import ensure_demo_index

    root = REPO / "test-artifacts" / "demo-index"
    ensure_demo_index(artifacts_dir=root)
    return root


@pytest.fixture
def demo_env(demo_artifacts):
    """The dashboard as shipped: the default model (``demo``) and its indexed demo collection."""
    import streamlit as st

    old = {k: os.environ.pop(k, None) for k in ("CLIP_EXPLORER_MODEL", "CLIP_EXPLORER_COLLECTIONS")}
    old |= _set_env({"CLIP_EXPLORER_ARTIFACTS": str(demo_artifacts)})
    st.cache_data.clear()
    yield demo_artifacts
    _restore(old)
    st.cache_data.clear()


def attack_figures(at) -> dict[str, str]:
    """The typographic-attack page's line of figures (``ui.panels.attack_result``) as {label: value}, e.g.
    {"Prediction before → after": "cat → dog", "Prediction flipped": "yes", "Pixels changed": "7.9%"}."""
    import re

    line = next((m.value for m in at.markdown if m.value.startswith("Prediction before → after:")), "")
    return {label.strip().capitalize(): value for label, value in re.findall(r"([^·*:]+?): \*\*(.+?)\*\*", line)}

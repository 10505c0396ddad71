"""Hostile links and names: every page, with hostile values in every URL parameter (and a collection whose class
folders are named like markdown links), shows no exception, no traceback, and no markdown that a visitor's value
could turn into a link, an image (a request to another host) or HTML.

A value shown through a markdown-rendering element must arrive escaped (``ui.html.md_escape``): the payloads below
all name the hosts ``127.0.0.1:9`` / ``ev.il``, so their unescaped dots never appear in any such element's text."""
from __future__ import annotations

import random
import re

import pytest

from tests.app.conftest import PAGES, REPO, _restore, _set_env, app
from tests.conftest import TINY_RN, make_image_folder

ALL = ["dashboard.py"] + [f"pages/{p.name}" for p in sorted(PAGES.glob("*.py"))]
# Every URL parameter a page or the shell binds: bind_url(key, PARAM, ...) or url_int/url_choice/url_text/url_flag(
# draw, label, PARAM, ...).
_BOUND = re.compile(r'bind_url\(\s*"[^"]+",\s*"([^"]+)"|url_(?:int|choice|text|flag)\(\s*[\w.]+,\s*f?"[^"]*",\s*"([^"]+)"')
PARAMS = sorted({a or b for p in [*PAGES.glob("*.py"), *(REPO / "ui").glob("*.py")]
                 for a, b in _BOUND.findall(p.read_text(encoding="utf-8"))})
IMAGE = "![t](http://127.0.0.1:9/track.png)"
LINK = "[Log in again](http://ev.il/x)"
HOSTILE = [IMAGE, LINK, "<img src=http://127.0.0.1:9/x onerror=alert(1)>", "<http://ev.il/auto>", "http://ev.il/bare",
           "²", "١٢", "𝟗", "99999999999999999999999", "-7", "NaN", "inf", "", " ", "x" * 10_000, "\x00", "%00", "1\x00",
           "\u202eev.il\u202c", "$\\href{http://ev.il}{x}$", ":red[x] **b** `c` # h | t |", "../../etc/passwd"]
MARKERS = ("127.0.0.1", "ev.il", "onerror=")
MD_KEYS = {"body", "label", "help", "caption", "delta", "text", "placeholder"}  # proto fields Streamlit renders as markdown


def _markdown_texts(at) -> list[tuple[str, str]]:
    """(element type, text) of every markdown-rendered field of every element of the run."""
    from google.protobuf.json_format import MessageToDict

    from tests.app.conftest import _in_page_order

    out = []

    def walk(el_type, node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in MD_KEYS and isinstance(v, str):
                    out.append((el_type, v))
                else:
                    walk(el_type, v)
        elif isinstance(node, list):
            for v in node:
                walk(el_type, v)

    for el in _in_page_order(at._tree):
        proto = getattr(el, "proto", None)
        if proto is not None and el.type not in ("bidi_component", "html", "code"):
            walk(el.type, MessageToDict(proto))
    return out


def assert_safe(at, where: str) -> None:
    assert not at.exception, (where, [e.value for e in at.exception][:1])
    assert not [c for c in at.code if "Traceback" in c.value], where
    assert not [e for e in at.error if "inside the app" in e.value], (where, [e.value for e in at.error])
    for el_type, text in _markdown_texts(at):
        bad = [m for m in MARKERS if m in text]
        assert not bad, f"{where}: unescaped {bad} in a {el_type}: {text[:300]!r}"
        shown = re.sub(r"\\(.)", r"\1", text)  # escapes resolved: GFM then links bare URLs in what is left
        assert not re.search(r"(?i)(https?://|www\.)(127\.0\.0\.1|ev\.il)", shown), f"{where}: a bare link: {text[:300]!r}"


def _runs(page_index: int) -> list[dict[str, str]]:
    """Every parameter set to the image payload, the link payload, a Unicode digit, then two seeded random draws."""
    rng = random.Random(1000 + page_index)
    return [dict.fromkeys(PARAMS, IMAGE), dict.fromkeys(PARAMS, LINK), dict.fromkeys(PARAMS, "²")] + [
        {p: rng.choice(HOSTILE) for p in PARAMS} for _ in range(2)]


def test_the_fuzz_knows_every_page_parameter():
    assert {"model", "collection", "layer", "unit", "q", "top", "classes", "color", "concept"} <= set(PARAMS)


@pytest.mark.parametrize("path", ALL)
def test_hostile_url_values_on_every_page(app_env, path):
    for params in _runs(ALL.index(path)):
        at = app(path)
        at.query_params.update(params)
        at.run()
        assert_safe(at, f"{path} {sorted(params.items())[:3]}")


@pytest.fixture(scope="module")
def hostile_labels(tmp_path_factory, tiny_rn):
    """Artifacts with one collection 'evil' whose class folders are named like markdown links / images."""
    from core.pipeline.extract import run_extraction

    root = tmp_path_factory.mktemp("hostile") / "artifacts"
    classes = ("[lbl](http:ev.il)", "![t](http:127.0.0.1:9)", "<b onerror=x>")
    folder = make_image_folder(root / "collections" / "evil", n_per_class=2, size=48, classes=classes)
    run_extraction(tiny_rn, folder, root / "indexes" / "evil", workers=0, topk=4)
    return root


@pytest.fixture
def labels_env(hostile_labels):
    import streamlit as st

    old = _set_env({"CLIP_EXPLORER_MODEL": f"{TINY_RN}/random", "CLIP_EXPLORER_ARTIFACTS": str(hostile_labels)})
    st.cache_data.clear()
    yield hostile_labels
    _restore(old)
    st.cache_data.clear()


@pytest.mark.parametrize("path", ["pages/typographic_attack.py", "pages/conditional_probability.py",
                                  "pages/attack_lab.py", "pages/neuron_lookup.py"])
def test_label_folders_named_like_links_stay_text(labels_env, path):
    at = app(path)
    at.query_params.update({"src": "collection", "row": "0", "labels": "collection", "run": "1", "n": "4"})
    at.run()
    assert_safe(at, path)

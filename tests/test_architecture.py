"""Import-direction rules (style §1, §10), checked by parsing imports with ``ast``.

- Only ``core/resources.py`` and ``core/ui.py`` may import streamlit inside ``core/``.
- Pages never import torch, open_clip or faiss (they deal in ids, DataFrames, charts, images).
- Only ``core/resources.py`` holds ``st.cache_*`` decorators.
- Pure core modules never import the Streamlit adapters.
- No page relies on Streamlit's "magic" (a bare expression written to the page): ``.streamlit/config.toml`` turns it
  off, so such a line would silently show nothing.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORE = sorted((REPO / "core").rglob("*.py"))
PAGES = sorted((REPO / "pages").glob("*.py"))
ADAPTERS = {"core/resources.py", "core/ui.py"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _top(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names}


def _rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def test_rules_see_the_files():
    assert len(CORE) > 10 and len(PAGES) >= 4
    assert "streamlit" in _top(_imports(REPO / "core" / "ui.py"))  # the checker itself works


@pytest.mark.parametrize("path", [p for p in CORE if _rel(p) not in ADAPTERS], ids=_rel)
def test_pure_core_does_not_import_streamlit_or_adapters(path):
    names = _imports(path)
    assert "streamlit" not in _top(names), f"{_rel(path)} imports streamlit; only {sorted(ADAPTERS)} may"
    assert not names & {"core.resources", "core.ui", "core.resources.get_model"}, f"{_rel(path)} imports an adapter"


@pytest.mark.parametrize("path", PAGES + [REPO / "dashboard.py"], ids=_rel)
def test_pages_do_not_import_heavy_libraries(path):
    bad = _top(_imports(path)) & {"torch", "open_clip", "faiss", "torchvision"}
    assert not bad, f"{_rel(path)} imports {sorted(bad)}; go through core.resources / core.ui"


@pytest.mark.parametrize("path", [p for p in CORE + PAGES + [REPO / "dashboard.py"]
                                  if _rel(p) != "core/resources.py"], ids=_rel)
def test_cache_decorators_only_in_resources(path):
    text = path.read_text(encoding="utf-8")
    assert "cache_resource" not in text and "cache_data" not in text, f"{_rel(path)} caches; use core/resources.py"


def test_checker_flags_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import streamlit as st\nfrom torch import nn\n")
    assert {"streamlit", "torch"} <= _top(_imports(bad))


def _magic_lines(path: Path) -> list[int]:
    """Lines that Streamlit's magic would have written to the page: bare expressions other than calls, awaits,
    yields and string constants (docstrings)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Expr)
            and not isinstance(n.value, (ast.Call, ast.Await, ast.Yield, ast.YieldFrom))
            and not (isinstance(n.value, ast.Constant) and isinstance(n.value.value, str))]


@pytest.mark.parametrize("path", PAGES + [REPO / "dashboard.py"], ids=_rel)
def test_no_page_relies_on_magic(path):
    config = (REPO / ".streamlit" / "config.toml").read_text(encoding="utf-8")
    assert "magicEnabled = false" in config
    assert not _magic_lines(path), f"{_rel(path)}: bare expressions at lines {_magic_lines(path)} show nothing; " \
        "write them with st.write"


def test_magic_checker_flags_a_bare_expression(tmp_path):
    bad = tmp_path / "page.py"
    bad.write_text('"""doc"""\nimport streamlit as st\nx = 1\nx\nst.write(x)\n"a string"\n')
    assert _magic_lines(bad) == [4]

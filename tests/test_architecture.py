"""The house rules, checked on the real import graph (every ``import`` in every file, parsed with ``ast``).

- ``core/`` is a plain library: it never imports streamlit or ``ui``, and its modules import each other without a
  cycle (function-local imports count: a cycle hidden in a function is still a cycle).
- ``pages/`` and ``dashboard.py`` never import torch, open_clip, faiss or torchvision.
- Only ``ui/resources/`` holds cache decorators.
- Modules stay small (about 400 lines), pages smaller (120).
- No page relies on Streamlit's "magic" (``.streamlit/config.toml`` turns it off).
Each rule is also run on a planted violation, so a checker that sees nothing fails.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEAVY = {"torch", "open_clip", "faiss", "torchvision"}
MAX_MODULE_LINES = 420
MAX_PAGE_LINES = 120


def _files(repo: Path, folder: str) -> list[Path]:
    return sorted((repo / folder).rglob("*.py"))


def _rel(path: Path, repo: Path = REPO) -> str:
    return path.relative_to(repo).as_posix()


def _module_name(path: Path, repo: Path) -> str:
    parts = list(path.relative_to(repo).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module name an import in ``path`` can load (``from a import b`` gives ``a`` and ``a.b``)."""
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


def layering_violations(repo: Path) -> list[str]:
    """``core`` importing streamlit or ``ui``; a page or the entrypoint importing a heavy library."""
    out = []
    for path in _files(repo, "core"):
        bad = _top(_imports(path)) & {"streamlit", "ui"}
        if bad:
            out.append(f"{_rel(path, repo)} imports {sorted(bad)}")
    for path in _files(repo, "pages") + [p for p in [repo / "dashboard.py"] if p.exists()]:
        bad = _top(_imports(path)) & HEAVY
        if bad:
            out.append(f"{_rel(path, repo)} imports {sorted(bad)}")
    return out


def import_cycles(repo: Path, package: str = "core") -> list[list[str]]:
    """The cycles among ``package``'s modules (each as its list of module names); a package's ``__init__`` is not
    an edge (importing ``core.x.y`` runs ``core/x/__init__.py``, which imports nothing here)."""
    files = _files(repo, package)
    mods = {_module_name(p, repo): p for p in files}
    graph = {m: sorted({n for n in _imports(p) if n in mods and n != m and not mods[n].name == "__init__.py"})
             for m, p in mods.items()}
    cycles, state, stack = [], {}, []

    def visit(m: str) -> None:
        state[m] = "open"
        stack.append(m)
        for n in graph[m]:
            if state.get(n) == "open":
                cycles.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)
    return cycles


def cache_outside_resources(repo: Path) -> list[str]:
    out = []
    for path in _files(repo, "core") + _files(repo, "ui") + _files(repo, "pages") + [repo / "dashboard.py"]:
        if not path.exists() or _rel(path, repo).startswith("ui/resources/"):
            continue
        text = path.read_text(encoding="utf-8")
        if "cache_resource" in text or "cache_data" in text:
            out.append(_rel(path, repo))
    return out


def oversized(repo: Path) -> list[str]:
    out = []
    for folder, limit in (("core", MAX_MODULE_LINES), ("ui", MAX_MODULE_LINES), ("pages", MAX_PAGE_LINES)):
        for path in _files(repo, folder):
            n = len(path.read_text(encoding="utf-8").splitlines())
            if n > limit:
                out.append(f"{_rel(path, repo)}: {n} lines (limit {limit})")
    return out


def test_core_never_imports_the_shell_and_pages_stay_light():
    assert layering_violations(REPO) == []


def test_core_has_no_import_cycle():
    assert import_cycles(REPO) == []


def test_cache_decorators_only_in_ui_resources():
    assert cache_outside_resources(REPO) == []


def test_modules_and_pages_stay_small():
    assert oversized(REPO) == []


def test_every_checker_flags_a_planted_violation(tmp_path):
    (tmp_path / "core" / "sub").mkdir(parents=True)
    (tmp_path / "pages").mkdir()
    (tmp_path / "core" / "__init__.py").write_text("")
    (tmp_path / "core" / "sub" / "__init__.py").write_text("")
    (tmp_path / "core" / "a.py").write_text("import streamlit as st\nfrom core.sub import b\n")
    (tmp_path / "core" / "sub" / "b.py").write_text("def f():\n    from core import a\n    return a\n")
    (tmp_path / "core" / "c.py").write_text("from ui.resources import get_model\n@st.cache_data\ndef g(): pass\n"
                                            + "x = 1\n" * (MAX_MODULE_LINES + 1))
    (tmp_path / "pages" / "p.py").write_text("import torch\n")
    assert layering_violations(tmp_path) == ["core/a.py imports ['streamlit']", "core/c.py imports ['ui']",
                                             "pages/p.py imports ['torch']"]
    assert import_cycles(tmp_path) == [["core.a", "core.sub.b", "core.a"]]
    assert cache_outside_resources(tmp_path) == ["core/c.py"]
    assert oversized(tmp_path) == [f"core/c.py: {MAX_MODULE_LINES + 4} lines (limit {MAX_MODULE_LINES})"]


def _magic_lines(path: Path) -> list[int]:
    """Lines that Streamlit's magic would have written to the page: bare expressions other than calls, awaits,
    yields and string constants (docstrings)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Expr)
            and not isinstance(n.value, (ast.Call, ast.Await, ast.Yield, ast.YieldFrom))
            and not (isinstance(n.value, ast.Constant) and isinstance(n.value.value, str))]


@pytest.mark.parametrize("path", sorted((REPO / "pages").glob("*.py")) + [REPO / "dashboard.py"], ids=_rel)
def test_no_page_relies_on_magic(path):
    config = (REPO / ".streamlit" / "config.toml").read_text(encoding="utf-8")
    assert "magicEnabled = false" in config
    assert not _magic_lines(path), f"{_rel(path)}: bare expressions at lines {_magic_lines(path)} show nothing; " \
        "write them with st.write"


def test_magic_checker_flags_a_bare_expression(tmp_path):
    bad = tmp_path / "page.py"
    bad.write_text('"""doc"""\nimport streamlit as st\nx = 1\nx\nst.write(x)\n"a string"\n')
    assert _magic_lines(bad) == [4]

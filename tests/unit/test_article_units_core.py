"""The article's names: which models they apply to, the cited-units table and its filter."""
from __future__ import annotations

import zipfile
from pathlib import Path
from types import SimpleNamespace

from core.analyses import article_units as au


def _loaded(kind, arch="RN50x4", tag=None, path=None, family="resnet"):
    spec = SimpleNamespace(kind=kind, arch=arch, tag=tag, path=path,
                           id=f"{arch}/{tag}" if tag else f"{arch}@{path}" if path else "demo")
    return SimpleNamespace(spec=spec, family=family, model=None)


def test_cited_units_and_entry():
    table = au.cited_units()
    assert len(table) == 161 and table["unit"].is_monotonic_increasing
    e = au.unit_entry(3)
    assert e["label"] == "Minecraft" and e["link"].startswith(au.ARTICLE_URL) and "Minecraft" in e["link"]
    assert au.unit_entry(2) is None
    assert au.article_link('Spiderman (intro figure caption says "Neuron 244")').endswith("#:~:text=Spiderman")
    assert set(au.filter_units(table, "minecraft")["unit"]) == {3}
    assert len(au.filter_units(table, "  ")) == 161


def test_match_rules(tmp_path):
    assert au.article_match(_loaded("pretrained", tag="openai")).exact
    assert au.article_match(_loaded("pretrained", tag="yfcc15m")).kind == au.ARCH_ONLY
    assert au.article_match(_loaded("random", tag="random")) is None
    assert au.article_match(_loaded("pretrained", arch="RN50", tag="openai")) is None
    assert au.article_match(_loaded("demo", arch="demo")) is None
    ts = tmp_path / "RN50x4.pt"
    with zipfile.ZipFile(ts, "w") as z:
        z.writestr("RN50x4/constants.pkl", b"x")
        z.writestr("RN50x4/code/__torch__.py", "")
    m = au.article_match(_loaded("file", path=Path(ts)))
    assert m.exact and "TorchScript" in m.reason
    sd = tmp_path / "other.safetensors"
    sd.write_bytes(b"not a zip")
    m = au.article_match(_loaded("file", path=Path(sd)))
    assert m.kind == au.ARCH_ONLY and "architecture match only" in m.reason

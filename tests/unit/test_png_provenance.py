"""Rendered PNGs carry the model fingerprint, layer, unit, objective and seed as text chunks."""
from __future__ import annotations

import json

from PIL import Image

from core.cli import main
from core.featurevis.png import png_bytes, provenance, read_provenance


class _Loaded:
    id, fingerprint = "demo", "abc123"


def test_round_trip_and_unit_from_the_objective_name():
    info = provenance(_Loaded(), "faceted(channel(visual.layer4:89), text x2)", 3)
    assert info["layer"] == "visual.layer4" and info["unit"] == "89" and info["seed"] == "3"
    data = png_bytes(Image.new("RGB", (4, 4)), info | {"note": "é ünïcode"})
    back = read_provenance(data)
    assert back["fingerprint"] == "abc123" and back["objective"].startswith("faceted(") and back["note"] == "é ünïcode"
    assert read_provenance(png_bytes(Image.new("RGB", (2, 2)))) == {}
    info = provenance(_Loaded(), "channel(visual.layer4.5.act3@in:1450) + 2*diversity(visual.layer4.5.act3@in)", 0)
    assert info["layer"] == "visual.layer4.5.act3@in" and info["unit"] == "1450"


def test_cli_render_writes_provenance(tiny_rn, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CLIP_EXPLORER_ARTIFACTS", str(tmp_path / "artifacts"))
    out = tmp_path / "fv.png"
    assert main(["render", "--model", "tiny-rn/random", "--neuron", "2", "--steps", "2", "--size", "32",
                 "--seed", "7", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    info = read_provenance(out)
    assert info["model"] == "tiny-rn/random" and info["unit"] == "2" and info["seed"] == "7"
    assert info["objective"] == summary["objective"] and info["layer"] in summary["neuron"]
    assert len(info["fingerprint"]) >= 8 and info["steps"] == "2"


def test_cli_render_diversity(tiny_rn, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CLIP_EXPLORER_ARTIFACTS", str(tmp_path / "artifacts"))
    out = tmp_path / "div.png"
    assert main(["render", "--model", "tiny-rn/random", "--neuron", "5", "--steps", "2", "--size", "32",
                 "--batch", "3", "--diversity", "2", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert "diversity(" in summary["objective"] and Image.open(out).size == (96, 32)
    info = read_provenance(out)
    assert info["unit"] == "5" and "diversity(" in info["objective"] and info["batch"] == "3"
    assert main(["render", "--model", "tiny-rn/random", "--neuron", "5", "--diversity", "2",
                 "--out", str(tmp_path / "x.png")]) == 2
    assert "2 or more images" in capsys.readouterr().err


def test_diverse_render_and_probe_phases(tiny_rn, tmp_path, monkeypatch):
    from core.featurevis import diverse
    from core.model.hooks import article_layer

    monkeypatch.setenv("CLIP_EXPLORER_ARTIFACTS", str(tmp_path / "artifacts"))
    layer = article_layer(tiny_rn)
    assert diverse.lookup_diverse(tiny_rn, layer, 1, images=2, steps=2) is None
    res = diverse.render_diverse(tiny_rn, layer, 1, images=2, steps=2)
    assert res.images.shape[0] == 2
    assert diverse.lookup_diverse(tiny_rn, layer, 1, images=2, steps=2) is not None
    phases, ticks = [], []
    assert diverse.train_probes(tiny_rn, ["text"], progress=lambda d, t: ticks.append((d, t)),
                                phase=phases.append) == ["text"]
    assert "text" in phases[0] and ticks and ticks[-1][0] == ticks[-1][1]
    assert diverse.train_probes(tiny_rn, ["text"], phase=phases.append) == [] and len(phases) == 1

"""One number, one unit: every value under a picture on the neuron card and the conditional-probability page is in
standard deviations from zero (σ), with the raw activation on hover, and one caption says so."""
from __future__ import annotations

import re

import numpy as np

from tests.app.conftest import app, html_blocks, tile_grids

SIGMA = re.compile(r"[+-]\d[\d.e+-]*σ$")


def _artifact(root):
    from core.pipeline.store import open_artifact

    return open_artifact(root / "indexes" / "shapes")


def _titles(block: str) -> list[str]:
    return re.findall(r'<figure[^>]*title="([^"]*)"', block)


def test_card_tiles_all_read_in_std_devs_with_the_raw_value_on_hover(app_env):
    at = app("pages/neuron_lookup.py").run()
    assert not at.exception
    grids = tile_grids(at)
    assert len(grids) == 3 and all(SIGMA.search(cap) for g in grids for _, cap in g), grids
    art = _artifact(app_env)
    values = np.sort(np.asarray(art.max[:, 0], dtype=np.float64))[::-1]
    top = float(grids[0][0][1].split()[-1].rstrip("σ"))
    assert abs(top - values[0] / float(art.unit_std[0])) < 0.01 * max(1.0, abs(top))  # z, not the raw value
    titles = _titles(html_blocks(at)["grids"])
    assert len(titles) == sum(len(g) for g in grids) and all("raw activation" in t for t in titles)
    assert f"{values[0]:+.3f}" in titles[0]
    assert any("standard deviations from zero" in c.value and "hover" in c.value for c in at.caption)


def test_most_negative_examples_say_when_none_is_negative(app_env):
    art = _artifact(app_env)
    mins = np.asarray(art.max, dtype=np.float64).min(axis=0)
    note = "No picture of this collection drives the unit below zero"
    for unit in (int(np.argmax(mins)), int(np.argmin(mins))):
        at = app("pages/neuron_lookup.py")
        at.query_params["unit"] = str(unit)
        at.run()
        assert not at.exception
        assert (note in html_blocks(at)["grids"]) == bool(mins[unit] > 0), (unit, mins[unit])
    assert mins.max() > 0  # the collection has such a unit (the check above saw the note at least once)


def test_conditional_probability_thumbnails_in_std_devs_with_raw_on_hover(app_env):
    at = app("pages/conditional_probability.py").run()
    assert not at.exception and not at.error
    caps = [cap for g in tile_grids(at) for _, cap in g]
    assert caps and all(SIGMA.search(c) for c in caps), caps
    assert any("standard deviations (σ) from zero" in c.value for c in at.caption)
    assert all("raw activation" in t for t in _titles("".join(h.value for h in at.get("html"))))

"""AppTest: the region-map page (compute on demand, the map from a shared link, several units, find region neurons
, the card's links) on the tiny real model."""
from __future__ import annotations

import json
import os

import pytest

from tests.app.conftest import MODEL_ID, app, charts, query_param

LAYER = "visual.layer4.0.act3@in"  # tiny-rn's article layer


@pytest.fixture
def computed(app_env, tiny_rn):
    """The tiny model's region responses at the article layer, on disk in the app's artifacts dir."""
    from core.analyses.regions import layer_regions

    assert os.environ["CLIP_EXPLORER_ARTIFACTS"] == str(app_env)
    layer_regions(tiny_rn, LAYER)
    return app_env


def _map_spec(at) -> dict:
    """The map's spec; Streamlit keeps the GeoJSON dataset in it and moves the tabular ones (cities, cells) to
    Arrow datasets, listed here by name with their row counts."""
    import pyarrow as pa

    found = [c for c in charts(at) if "countries" in json.loads(c.proto.spec).get("datasets", {})]
    assert found, "the region map is drawn"
    spec = json.loads(found[0].proto.spec)
    for ds in found[0].proto.datasets:
        spec["datasets"][ds.name] = pa.ipc.open_stream(ds.data.data).read_all().to_pylist()
    return spec


def test_page_offers_to_compute_when_not_computed(app_env, tmp_path, monkeypatch):
    monkeypatch.setenv("CLIP_EXPLORER_ARTIFACTS", str(tmp_path / "fresh"))  # nothing computed there
    at = app("pages/region_maps.py").run()
    assert not at.exception, at.exception
    assert at.button(key="rm_compute") is not None
    assert not charts(at)


def test_map_from_a_shared_link_with_two_units(computed):
    at = app("pages/region_maps.py")
    at.query_params["units"] = "3,7"
    at.query_params["layer"] = LAYER
    at = at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    spec = _map_spec(at)
    assert len(spec["datasets"]["countries"]) == 175 and len(spec["datasets"]["cities"]) == 620
    props = spec["datasets"]["countries"][0]["properties"]
    assert {"u3", "u7", "name", "colour"} <= set(props)
    assert query_param(at, "units") == "3,7" and query_param(at, "model") == MODEL_ID
    assert at.text_input(key="rm_units").value == "3, 7"
    # fewer layers: no cities in the spec
    at.toggle(key="rm_cities").set_value(False).run()
    assert "cities" not in _map_spec(at)["datasets"]


def test_bad_units_in_a_link_warn_and_fall_back(computed):
    at = app("pages/region_maps.py")
    at.query_params["units"] = "3,99999,x"
    at = at.run()
    assert not at.exception
    assert any("not units" in w.value for w in at.warning)
    assert "u3" in _map_spec(at)["datasets"]["countries"][0]["properties"]


def test_lookup_card_links_to_the_region_map(app_env):
    at = app("pages/neuron_lookup.py").run()
    assert not at.exception
    links = [m.value for m in at.markdown if "region_maps?" in m.value]
    assert links and "units=0" in links[0]


@pytest.fixture
def second_layer(app_env, tiny_rn, tmp_path, monkeypatch):
    """A copy of the app's artifacts with the same collection also indexed at the block's post-ReLU output."""
    import shutil

    import streamlit as st

    from core.pipeline.extract import run_extraction

    root = tmp_path / "artifacts"
    shutil.copytree(app_env, root)
    run_extraction(tiny_rn, app_env / "collections" / "shapes", root / "indexes" / "shapes-post",
                   layer="visual.layer4.0", workers=0, topk=8)
    monkeypatch.setenv("CLIP_EXPLORER_ARTIFACTS", str(root))
    st.cache_data.clear()
    return root


def test_card_lists_the_same_concept_elsewhere(second_layer):
    at = app("pages/neuron_lookup.py")
    at.query_params["collection"] = "shapes"
    at.query_params["unit"] = "5"
    at = at.run()
    assert not at.exception, at.exception
    assert any(s.value == "The same concept elsewhere" for s in at.subheader)
    links = [m.value for m in at.markdown if m.value.startswith("[unit ") and "lookup?" in m.value]
    assert len(links) == 3 and "layer=visual.layer4.0" in links[0] and "collection=shapes-post" in links[0]
    assert any("visual.layer4.0" in m.value and "12 images" in m.value for m in at.markdown)

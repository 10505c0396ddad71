"""Switching models resets the layer to the new model's article layer, even where the old layer's name exists in
the new model too (AppTest, tiny real models)."""
from __future__ import annotations

import pytest

from tests.app.conftest import app
from tests.conftest import TINY_CONFIGS, TINY_RN

DEEP = "tiny-rn-deep"  # tiny-rn with two blocks in its last stage: the same layer names, another article layer


@pytest.fixture
def two_models(app_env, monkeypatch):
    import streamlit as st

    from core.model import loading

    cfg = {**TINY_CONFIGS[TINY_RN], "vision_cfg": {**TINY_CONFIGS[TINY_RN]["vision_cfg"], "layers": [1, 1, 1, 2]}}
    loading.register_config(DEEP, cfg)
    monkeypatch.setenv("CLIP_EXPLORER_MODELS", f"{DEEP}/random")  # listed: in the picker's menu
    st.cache_data.clear()
    return f"{TINY_RN}/random", f"{DEEP}/random"


def test_switching_models_resets_a_same_named_layer(two_models):
    rn, deep = two_models
    at = app("pages/neuron_lookup.py").run()
    assert at.selectbox(key="layer").value == "visual.layer4.0.act3@in"
    at.selectbox(key="layer").set_value("visual.layer2.0").run()  # a layer both models have
    assert at.selectbox(key="layer").value == "visual.layer2.0"
    at.selectbox(key="model").set_value(deep).run()
    assert not at.exception
    assert at.selectbox(key="layer").value == "visual.layer4.1.act3@in"  # the new model's article layer
    at.selectbox(key="model").set_value(rn).run()
    assert at.selectbox(key="layer").value == "visual.layer4.0.act3@in"


def test_a_link_naming_model_and_layer_keeps_the_layer(two_models):
    rn, deep = two_models
    at = app("pages/neuron_lookup.py")
    at.query_params.update({"model": rn, "layer": "visual.layer2.0"})
    at.run()
    assert not at.exception and at.selectbox(key="layer").value == "visual.layer2.0"

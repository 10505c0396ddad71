"""Model loading: ids, fingerprints, checkpoints, offline failures, the article's RN50x4 shapes."""
from __future__ import annotations

import time

import pytest
import torch
from PIL import Image

from core.errors import UnknownModelError, WeightsUnavailableError
from core.model.loading import load_model, parse_model_id


def test_parse_ids():
    assert parse_model_id("demo").kind == "demo"
    spec = parse_model_id("RN50x4/openai")
    assert (spec.kind, spec.arch, spec.tag, spec.id) == ("pretrained", "RN50x4", "openai", "RN50x4/openai")
    assert parse_model_id("RN50/random").kind == "random"
    assert parse_model_id("RN50@/x/y.pt").path.name == "y.pt"
    with pytest.raises(UnknownModelError, match="Did you mean: RN50x4"):
        parse_model_id("RN50x5/openai")
    with pytest.raises(UnknownModelError, match="no pretrained tag 'opnai'"):
        parse_model_id("RN50x4/opnai")
    with pytest.raises(UnknownModelError):
        parse_model_id("")


def test_missing_weights_offline_fail_fast_with_instructions(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    with pytest.raises(WeightsUnavailableError) as err:
        load_model("RN50x4/openai")
    assert time.perf_counter() - t0 < 5
    msg = str(err.value)
    assert "RN50x4/openai" in msg and "--checkpoint" in msg and "demo" in msg


def test_random_models_are_reproducible_and_frozen(tiny_rn):
    again = load_model("tiny-rn/random")
    assert again.fingerprint == tiny_rn.fingerprint and len(tiny_rn.fingerprint) == 16
    assert not any(p.requires_grad for p in tiny_rn.model.parameters())
    assert not tiny_rn.model.training
    assert tiny_rn.family == "resnet" and tiny_rn.image_size == 64


def test_checkpoint_roundtrip_safetensors_and_state_dict(tiny_rn, tmp_path):
    from safetensors.torch import save_file

    state = {k: v.clone() for k, v in tiny_rn.model.state_dict().items()}
    st = tmp_path / "w.safetensors"
    save_file(state, str(st))
    pt = tmp_path / "w.pt"
    torch.save(state, pt)
    for path in (st, pt):
        m = load_model(f"tiny-rn@{path}")
        assert m.fingerprint == tiny_rn.fingerprint, path.suffix


def test_checkpoint_errors(tmp_path):
    with pytest.raises(WeightsUnavailableError, match="not found"):
        load_model(f"tiny-rn@{tmp_path / 'nope.pt'}")
    bad = tmp_path / "evil.pt"
    torch.save({"x": object()}, bad)  # needs arbitrary unpickling: refused
    with pytest.raises(WeightsUnavailableError, match="weights_only"):
        load_model(f"tiny-rn@{bad}")
    wrong = tmp_path / "wrong.pt"
    torch.save({"visual.foo": torch.zeros(1)}, wrong)
    with pytest.raises(WeightsUnavailableError, match="does not match"):
        load_model(f"tiny-rn@{wrong}")


def test_preprocess_composites_alpha_on_white(tiny_rn):
    clear = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    white = Image.new("RGB", (64, 64), (255, 255, 255))
    torch.testing.assert_close(tiny_rn.preprocess(clear), tiny_rn.preprocess(white))


def test_rn50x4_article_shapes():
    """The article's model (random init): 2,560 units on 9x9 at 288 px; directions 640x2560."""
    from core.model.hooks import article_layer, capture

    m = load_model("RN50x4/random")
    layer = article_layer(m)
    assert layer == "visual.layer4.5.act3@in"
    with capture(m, [layer]) as acts:
        emb = m.model.encode_image(torch.randn(2, 3, 288, 288))
    assert acts[layer].shape == (2, 2560, 9, 9)
    assert emb.shape == (2, 640)
    pool = m.model.visual.attnpool
    assert (pool.c_proj.weight @ pool.v_proj.weight).shape == (640, 2560)

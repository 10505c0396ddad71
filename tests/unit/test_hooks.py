"""Hooks: naming, equivalence with the plain forward, cleanup, the article's layer and shapes."""
from __future__ import annotations

import pytest
import torch

from core.errors import BadNeuronIdError, LayerNotFoundError, UnitOutOfRangeError
from core.model.hooks import NeuronRef, article_layer, capture, list_layers, reduce_positions, resolve_neuron


def _no_hooks_left(model):
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_resnet_layers_and_article_layer(tiny_rn):
    layers = list_layers(tiny_rn)
    ids = [li.id for li in layers]
    assert ids[-2:] == ["visual.layer4.0.act3@in", "visual.layer4.0"]
    assert article_layer(tiny_rn) == "visual.layer4.0.act3@in"
    assert {li.kind for li in layers} == {"pre_relu", "block"}
    assert layers[-1].units == tiny_rn.model.visual.layer4[0].conv3.out_channels


def test_pre_relu_capture_is_the_residual_sum_and_not_overwritten(tiny_rn):
    """The captured pre-ReLU sum has negative values and equals the block output after ReLU."""
    x = torch.randn(2, 3, 64, 64)
    pre, post = "visual.layer4.0.act3@in", "visual.layer4.0"
    with capture(tiny_rn, [pre, post]) as acts:
        tiny_rn.model.encode_image(x)
    assert acts[pre].shape == acts[post].shape == (2, list_layers(tiny_rn)[-1].units, 2, 2)
    assert (acts[pre] < 0).any(), "clone missing: the in-place ReLU overwrote the captured input"
    torch.testing.assert_close(acts[pre].clamp_min(0), acts[post])
    assert _no_hooks_left(tiny_rn.model)


def test_capture_equals_plain_forward_and_leaves_output_unchanged(tiny_rn):
    x = torch.randn(3, 3, 64, 64)
    visual = tiny_rn.model.visual
    with torch.no_grad():
        plain = tiny_rn.model.encode_image(x)
        stem = visual.stem(x) if hasattr(visual, "stem") else None
        h = visual.act3(visual.bn3(visual.conv3(visual.act2(visual.bn2(visual.conv2(
            visual.act1(visual.bn1(visual.conv1(x)))))))))
        h = visual.avgpool(h)
        for stage in (visual.layer1, visual.layer2, visual.layer3, visual.layer4):
            h = stage(h)
    del stem
    with capture(tiny_rn, ["visual.layer4.0"]) as acts:
        hooked = tiny_rn.model.encode_image(x)
    torch.testing.assert_close(hooked, plain)
    torch.testing.assert_close(acts["visual.layer4.0"], h)


def test_hooks_removed_on_exception(tiny_rn):
    with pytest.raises(RuntimeError):
        with capture(tiny_rn, ["visual.layer4.0.act3@in", "visual.layer3.0"]):
            assert not _no_hooks_left(tiny_rn.model)
            raise RuntimeError("boom")
    assert _no_hooks_left(tiny_rn.model)
    assert not tiny_rn.lock._is_owned()


def test_vit_layers_shapes(tiny_vit):
    layers = list_layers(tiny_vit)
    assert [li.kind for li in layers] == ["mlp", "resid", "mlp", "resid"]
    mlp = article_layer(tiny_vit)
    assert mlp == "visual.transformer.resblocks.1.mlp.gelu"
    with capture(tiny_vit, [mlp]) as acts:
        tiny_vit.model.encode_image(torch.randn(2, 3, 32, 32))
    tokens = (32 // 8) ** 2 + 1
    assert acts[mlp].shape == (2, tokens, 64)  # (B, L, D): batch-first
    mx, arg, mean = reduce_positions(acts[mlp])
    assert mx.shape == arg.shape == mean.shape == (2, 64)
    assert (arg < tokens).all()


def test_reduce_positions_argmax_is_flat_spatial_index():
    act = torch.zeros(1, 2, 3, 4)
    act[0, 1, 2, 3] = 5.0
    mx, arg, mean = reduce_positions(act)
    assert mx[0, 1] == 5 and arg[0, 1] == 2 * 4 + 3
    torch.testing.assert_close(mean[0, 1], torch.tensor(5.0 / 12))


def test_neuron_ids_validate_with_helpful_errors(tiny_rn):
    ref = resolve_neuron(tiny_rn, "visual.layer4.0.act3@in:3")
    assert ref == NeuronRef("visual.layer4.0.act3@in", 3) and str(ref) == "visual.layer4.0.act3@in:3"
    with pytest.raises(BadNeuronIdError):
        NeuronRef.parse("layer4")
    units = list_layers(tiny_rn)[-1].units
    with pytest.raises(UnitOutOfRangeError, match=f"0..{units - 1}"):
        resolve_neuron(tiny_rn, f"visual.layer4.0.act3@in:{units}")
    with pytest.raises(LayerNotFoundError, match="Did you mean: visual.layer4.0"):
        resolve_neuron(tiny_rn, "visual.layer4.1:0")

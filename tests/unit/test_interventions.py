"""Interventions: hooks.patch guarantees, edits, zero-shot before/after, the causal check and its CLI."""
from __future__ import annotations

import copy
import dataclasses
import json
import threading

import pytest
import torch
from PIL import Image

from core.analyses.interventions import (
    Edit,
    InterventionError,
    blank_image,
    causal_check,
    image_features,
    intervention_effect,
    make_edit,
    pool_map,
)
from core.errors import LayerNotFoundError, UnitOutOfRangeError
from core.model.hooks import capture, patch

LAYER = "visual.layer4.0.act3@in"
BLOCK = "visual.layer4.0"
LABELS = ["cat", "dog", "boat", "tree"]


def _no_hooks_left(model):
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def _image(seed=0, size=64):
    g = torch.Generator().manual_seed(seed)
    arr = (torch.rand(size, size, 3, generator=g) * 255).to(torch.uint8).numpy()
    return Image.fromarray(arr)


def test_patch_edits_only_inside_the_block_and_always_removes_its_hook(tiny_rn):
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        plain = tiny_rn.model.encode_image(x)
        with patch(tiny_rn, LAYER, lambda a: a.zero_()), capture(tiny_rn, [BLOCK]) as acts:
            zeroed = tiny_rn.model.encode_image(x)
        again = tiny_rn.model.encode_image(x)
    assert torch.count_nonzero(acts[BLOCK]) == 0, "the block's ReLU must see the edited pre-ReLU sum"
    assert not torch.allclose(zeroed, plain)
    torch.testing.assert_close(again, plain)
    assert _no_hooks_left(tiny_rn.model)
    with pytest.raises(RuntimeError), patch(tiny_rn, BLOCK, lambda a: a):
        raise RuntimeError("boom")
    assert _no_hooks_left(tiny_rn.model) and not tiny_rn.lock._is_owned()
    with pytest.raises(LayerNotFoundError):
        with patch(tiny_rn, "visual.nope", lambda a: a):
            pass


def test_patch_identity_edit_is_exact_and_holds_the_lock(tiny_rn):
    x = torch.randn(1, 3, 64, 64)
    seen = []

    def probe():
        seen.append(tiny_rn.lock.acquire(blocking=False))

    with torch.no_grad():
        plain = tiny_rn.model.encode_image(x)
        with patch(tiny_rn, LAYER, lambda a: a):
            t = threading.Thread(target=probe)
            t.start(), t.join()
            same = tiny_rn.model.encode_image(x)
    torch.testing.assert_close(same, plain)
    assert seen == [False], "another thread must not get the model while a patch is active"


def test_edits_apply_each_op_to_one_unit_only():
    act = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)
    for op, value, expect in [("zero", None, 0.0), ("set", 7.0, 7.0), ("mean", 2.5, 2.5)]:
        out = make_edit(1, op, value).apply(act.clone())
        assert torch.all(out[:, 1] == expect) and torch.equal(out[:, [0, 2]], act[:, [0, 2]])
    torch.testing.assert_close(make_edit(2, "scale", 3.0).apply(act.clone())[:, 2], 3 * act[:, 2])
    torch.testing.assert_close(make_edit(0, "add", -1.0).apply(act.clone())[:, 0], act[:, 0] - 1)
    tokens = torch.zeros(1, 4, 5)
    assert torch.all(make_edit(3, "set", 1.0).apply(tokens)[..., 3] == 1)


def test_make_edit_rejects_bad_ops_and_missing_values():
    with pytest.raises(InterventionError, match="Available: zero, mean, scale, set, add"):
        make_edit(0, "boost", 1.0)
    with pytest.raises(InterventionError, match="mean"):
        make_edit(0, "mean")
    with pytest.raises(InterventionError, match="finite"):
        make_edit(0, "scale", float("nan"))


def test_intervention_effect_zero_vs_amplify(tiny_rn):
    img = _image()
    feats, act = image_features(tiny_rn, tiny_rn.preprocess(img).unsqueeze(0), layer=LAYER, watch=LAYER)
    unit = int(act[0].flatten(1).max(1).values.argmax())  # the most active unit: its ablation matters
    res = intervention_effect(tiny_rn, img, [make_edit(unit, "zero")], LABELS, template="a photo of a {}")
    t = res.table
    assert list(t.columns) == ["label", "prob_before", "prob_after", "delta", "logit_before", "logit_after"]
    assert sorted(t["label"]) == sorted(LABELS)
    assert t["prob_before"].sum() == pytest.approx(1, abs=1e-5) and t["prob_after"].sum() == pytest.approx(1, abs=1e-5)
    assert res.unit_after[unit] == 0.0 and res.unit_before[unit] > 0
    assert (t["logit_after"] - t["logit_before"]).abs().max() > 0
    same = intervention_effect(tiny_rn, img, [make_edit(unit, "scale", 1.0)], LABELS, template="a photo of a {}")
    assert same.table["delta"].abs().max() < 1e-6
    big = intervention_effect(tiny_rn, img, [make_edit(unit, "scale", 10.0)], LABELS, template="a photo of a {}")
    assert big.unit_after[unit] == pytest.approx(10 * big.unit_before[unit], rel=1e-4)
    assert _no_hooks_left(tiny_rn.model)
    with pytest.raises(UnitOutOfRangeError):
        intervention_effect(tiny_rn, img, [make_edit(10_000, "zero")], LABELS)


def _uniform_attention(loaded):
    """A copy whose attention pool has zero queries: attention is uniform, so the pool is linear."""
    model = copy.deepcopy(loaded.model)
    model.visual.attnpool.q_proj.weight.zero_()
    model.visual.attnpool.q_proj.bias.zero_()
    return dataclasses.replace(loaded, model=model, lock=threading.RLock())


def test_causal_check_is_exact_under_uniform_attention(tiny_rn):
    """Constructed case: raw change of <y, t> == delta * (w_u . t) exactly; the logit sign follows."""
    lin = _uniform_attention(tiny_rn)
    concepts = ["cat", "dog", "boat", "tree", "car"]
    for unit in (0, 5, 17):
        res = causal_check(lin, unit, concepts, delta=3.0)
        t = res.table
        torch.testing.assert_close(torch.tensor(t["raw_change"].values), torch.tensor(t["predicted"].values),
                                   atol=1e-4, rtol=1e-4)
        assert t["alignment"].is_monotonic_decreasing and res.target == t["concept"].iloc[0]
    # a large raise makes the image embedding point along w_u: the best-aligned concept's logit rises
    res = causal_check(lin, 5, concepts, delta=1e4)
    assert res.passed and res.table["logit_change"].iloc[0] > 0
    assert res.table["logit_change"].iloc[-1] < res.table["logit_change"].iloc[0]


def test_causal_check_on_the_real_attention_pool_is_approximate(tiny_rn):
    res = causal_check(tiny_rn, 3, ["cat", "dog", "boat"], delta=1e4, blank="mean")
    assert res.passed, "with a huge raise the embedding aligns with w_u even through true attention"
    d = res.to_dict()
    assert d["target"] == res.target and 0 <= d["sign_agreement"] <= 1 and d["image"] == "mean"
    assert _no_hooks_left(tiny_rn.model)


def test_causal_check_refuses_vits_and_other_layers(tiny_rn, tiny_vit):
    with pytest.raises(InterventionError, match="ResNet"):
        causal_check(tiny_vit, 0, ["a", "b"])
    with pytest.raises(InterventionError, match="attention pool"):
        causal_check(tiny_rn, 0, ["a", "b"], layer="visual.layer3.0")


def test_blank_image_and_pool_map_shapes(tiny_rn):
    assert blank_image(tiny_rn).getpixel((0, 0)) == (255, 255, 255)
    assert blank_image(tiny_rn, "mean").size == (64, 64)
    units = tiny_rn.model.visual.layer4[0].conv3.out_channels
    assert pool_map(tiny_rn).shape == (units, 16)
    assert isinstance(Edit(0, "zero").describe(), str)


def test_cli_intervene_json_and_errors(tiny_rn, tmp_path, capsys):
    from core.cli import main

    path = tmp_path / "x.png"
    _image(1).save(path)
    assert main(["intervene", str(path), "--model", "tiny-rn/random", "--unit", "3", "--op", "scale",
                 "--value", "4", "--labels", "cat, dog, boat", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["edits"] == ["unit 3 x 4"] and len(out["table"]) == 3
    assert out["unit_after"]["3"] == pytest.approx(4 * out["unit_before"]["3"], rel=1e-4)
    assert main(["intervene", "--causal", "--model", "tiny-rn/random", "--unit", "3", "--labels", "cat, dog",
                 "--json"]) == 0
    causal = json.loads(capsys.readouterr().out)
    assert causal["unit"] == 3 and causal["target"] in ("cat", "dog") and isinstance(causal["passed"], bool)
    assert main(["intervene", str(path), "--model", "tiny-rn/random", "--unit", "3", "--op", "mean"]) == 2
    assert "needs the unit's mean" in capsys.readouterr().err
    assert main(["intervene", "--model", "tiny-rn/random", "--unit", "3"]) == 2
    assert main(["intervene", str(path), "--model", "tiny-rn/random", "--unit", "99999"]) == 2
    assert "out of range" in capsys.readouterr().err
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert main(["intervene", str(bad), "--model", "tiny-rn/random", "--unit", "3"]) == 2


def test_causal_chart_and_probs_frame(tiny_rn):
    from core import charts

    res = causal_check(tiny_rn, 2, ["cat", "dog", "boat"], delta=10.0)
    spec = charts.causal_check_chart(res.table).to_dict()
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert marks == ["rule", "rule", "circle", "text"]
    assert spec["layer"][2]["encoding"]["y"]["field"] == "logit_change"
    eff = intervention_effect(tiny_rn, _image(), [make_edit(2, "zero")], LABELS, template="a photo of a {}")
    probs = eff.probs()
    assert list(probs.columns) == ["class", "before", "after", "change"] and len(probs) == 4
    assert charts.class_probs_chart(probs).to_dict()["mark"]["type"] == "bar"


def test_intervention_on_a_vit_mlp_layer(tiny_vit):
    from core.model.hooks import article_layer

    layer = article_layer(tiny_vit)
    img = _image(2, size=32)
    res = intervention_effect(tiny_vit, img, [make_edit(1, "set", 50.0)], LABELS, template="a photo of a {}",
                              layer=layer)
    assert res.layer == layer and res.unit_after[1] == pytest.approx(50.0)
    assert res.table["delta"].abs().max() > 0
    assert _no_hooks_left(tiny_vit.model)

"""Feature visualization on the tiny ResNet: parametrizations, transforms, objectives, render, cache, CLI."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.errors import BadInputError, LayerNotFoundError
from core.featurevis import channel, direction, diversity, facet, neuron, render, score_images
from core.featurevis.cache import cached_render, lookup
from core.featurevis.params import fft_image, make_param, pixel_image
from core.featurevis.transforms import compose, jitter, make_transforms, pad, random_rotate, random_scale

LAYER = "visual.layer4.0.act3@in"  # tiny-rn's article layer (256 units, 2x2)
EARLY = "visual.layer3.0"


@pytest.fixture
def artifacts(tmp_path, monkeypatch):
    monkeypatch.setenv("CLIP_EXPLORER_ARTIFACTS", str(tmp_path / "artifacts"))
    return tmp_path / "artifacts"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _no_hooks(loaded) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in loaded.model.modules())


@pytest.mark.parametrize("builder", [fft_image, pixel_image])
def test_params_shape_range_and_seed(builder):
    params, make = builder(32, batch=2, generator=torch.Generator().manual_seed(1))
    img = make()
    assert img.shape == (2, 3, 32, 32)
    assert float(img.detach().min()) >= 0.0 and float(img.detach().max()) <= 1.0
    assert all(p.requires_grad and p.is_leaf for p in params)
    _, make2 = builder(32, batch=2, generator=torch.Generator().manual_seed(1))
    assert torch.equal(make2(), img)
    img.mean().backward()
    assert params[0].grad is not None and params[0].grad.abs().sum() > 0


def test_unknown_param_lists_options():
    with pytest.raises(BadInputError, match="fft, pixel"):
        make_param("cppn", 32)


def test_transforms_are_seeded_and_fit_the_model():
    x = torch.rand(2, 3, 64, 64)
    tf = compose(make_transforms("standard", 64))
    a = tf(x, torch.Generator().manual_seed(3))
    b = tf(x, torch.Generator().manual_seed(3))
    c = tf(x, torch.Generator().manual_seed(4))
    assert a.shape == (2, 3, 64, 64) and torch.equal(a, b) and not torch.equal(a, c)
    assert pad(3)(x, None).shape[-1] == 70
    assert jitter(4)(x, torch.Generator()).shape[-1] == 60
    assert random_scale([0.5])(x, torch.Generator()).shape[-1] == 32
    rot = random_rotate([90.0])(x, torch.Generator())
    assert torch.allclose(rot, torch.rot90(x, 1, dims=(2, 3)), atol=1e-4) or torch.allclose(
        rot, torch.rot90(x, -1, dims=(2, 3)), atol=1e-4)


def test_objective_algebra_values_and_names():
    acts = {LAYER: torch.arange(2 * 4 * 2 * 2, dtype=torch.float32).view(2, 4, 2, 2)}
    ch = channel(LAYER, 1)
    assert torch.allclose(ch(acts), acts[LAYER][:, 1].mean(dim=(1, 2)))
    nr = neuron(LAYER, 1, x=0, y=1)
    assert torch.allclose(nr(acts), acts[LAYER][:, 1, 1, 0])
    d = direction(LAYER, [0.0, 1.0, 0.0, 0.0])
    assert torch.allclose(d(acts), ch(acts))
    combo = 2 * ch - nr + ch / 2
    assert torch.allclose(combo(acts), 2 * ch(acts) - nr(acts) + 0.5 * ch(acts))
    assert combo.layers == (LAYER,)
    assert "channel" in combo.name and "neuron" in combo.name
    assert torch.allclose((-ch)(acts), -ch(acts))
    div = diversity(LAYER)
    assert div(acts).shape == (2,) and torch.all(div(acts) <= 0)


def test_render_loss_decreases_and_is_deterministic(tiny_rn):
    r1 = render(tiny_rn, f"{LAYER}:3", steps=24, seed=7)
    assert r1.images.shape == (1, 64, 64, 3) and r1.images.dtype == np.float32
    assert len(r1.losses) == 24 and np.mean(r1.losses[-4:]) < np.mean(r1.losses[:4])
    r2 = render(tiny_rn, f"{LAYER}:3", steps=24, seed=7)
    assert np.array_equal(r1.images, r2.images) and r1.losses == r2.losses
    r3 = render(tiny_rn, f"{LAYER}:3", steps=24, seed=8)
    assert not np.array_equal(r1.images, r3.images)
    assert _no_hooks(tiny_rn)


def test_render_beats_noise_on_tiny_model(tiny_rn):
    obj = channel(LAYER, 5)
    r = render(tiny_rn, obj, steps=48, seed=0, param="pixel", lr=0.05)
    rendered = score_images(tiny_rn, obj, torch.from_numpy(r.images).permute(0, 3, 1, 2))
    noise = score_images(tiny_rn, obj, torch.rand(8, 3, 64, 64, generator=torch.Generator().manual_seed(0)))
    assert float(rendered[0]) > float(noise.max())


def test_batch_diversity_and_facet_terms_run(tiny_rn):
    w = torch.randn(128, generator=torch.Generator().manual_seed(0))  # layer3 of tiny-rn has 128 channels
    base = channel(LAYER, 2)
    obj = base + 0.5 * diversity(EARLY) + facet(base, EARLY, w, strength=(0.5, 2.0), label="test")
    r = render(tiny_rn, obj, steps=4, batch=3, seed=0)
    assert r.images.shape[0] == 3 and all(np.isfinite(r.losses))
    assert "facet[test" in r.objective and "diversity" in r.objective
    assert _no_hooks(tiny_rn)


def test_facet_layer_must_feed_the_objective(tiny_rn):
    base = channel(EARLY, 0)
    bad = facet(base, LAYER, torch.ones(256))  # facet layer after the objective's layer
    with pytest.raises(BadInputError, match="earlier layer"):
        render(tiny_rn, base + bad, steps=1)
    assert _no_hooks(tiny_rn)


def test_progress_cancel_and_exceptions_leave_no_hooks(tiny_rn):
    seen = []
    r = render(tiny_rn, f"{LAYER}:1", steps=50, on_step=lambda s, n, loss: seen.append(s) or s < 3)
    assert r.cancelled and r.steps_done == 3 and seen == [1, 2, 3]
    assert _no_hooks(tiny_rn)

    def boom(step, total, loss):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render(tiny_rn, f"{LAYER}:1", steps=5, on_step=boom)
    assert _no_hooks(tiny_rn)
    with pytest.raises(LayerNotFoundError):
        render(tiny_rn, "visual.layer9.0:1", steps=2)
    with pytest.raises(BadInputError, match="1..100000 steps"):
        render(tiny_rn, f"{LAYER}:1", steps=0)
    with pytest.raises(BadInputError, match="size 8..1024"):
        render(tiny_rn, f"{LAYER}:1", steps=1, size=100_000)
    assert _no_hooks(tiny_rn)


def test_render_cache_roundtrip(tiny_rn, artifacts):
    calls = []
    first = cached_render(tiny_rn, f"{LAYER}:4", steps=6, seed=1, on_step=lambda *a: calls.append(a))
    assert first.meta["cached"] is False and len(calls) == 6
    assert lookup(tiny_rn, f"{LAYER}:4", steps=6, seed=1) is not None
    again = cached_render(tiny_rn, f"{LAYER}:4", steps=6, seed=1, on_step=lambda *a: calls.append(a))
    assert again.meta["cached"] is True and len(calls) == 6  # no optimisation step ran
    assert np.abs(again.images - first.images).max() <= 1 / 255 + 1e-6
    assert again.losses == pytest.approx(first.losses, rel=1e-6)
    # every setting that changes the picture changes the key
    assert lookup(tiny_rn, f"{LAYER}:4", steps=6, seed=2) is None
    assert lookup(tiny_rn, f"{LAYER}:4", steps=7, seed=1) is None
    assert lookup(tiny_rn, f"{LAYER}:5", steps=6, seed=1) is None
    assert lookup(tiny_rn, f"{LAYER}:4", steps=6, seed=1, param="pixel") is None
    # a cancelled render is not stored
    cached_render(tiny_rn, f"{LAYER}:6", steps=6, on_step=lambda s, n, loss: s < 2)
    assert lookup(tiny_rn, f"{LAYER}:6", steps=6) is None


def test_corrupt_cache_entry_is_rerendered(tiny_rn, artifacts):
    cached_render(tiny_rn, f"{LAYER}:2", steps=3)
    entry = next((artifacts / "featurevis" / "renders").rglob("*.npz"))
    entry.write_bytes(b"garbage")
    r = cached_render(tiny_rn, f"{LAYER}:2", steps=3)
    assert r.meta["cached"] is False and r.images.shape == (1, 64, 64, 3)


def test_cli_render(tiny_rn, artifacts, tmp_path, capsys):
    from core.cli import main

    out = tmp_path / "fv.png"
    rc = main(["render", "--model", "tiny-rn/random", "--neuron", "3", "--steps", "4", "--out", str(out), "--json"])
    assert rc == 0 and out.is_file()
    from PIL import Image

    assert Image.open(out).size == (64, 64)
    assert '"neuron": "visual.layer4.0.act3@in:3"' in capsys.readouterr().out
    rc = main(["render", "--model", "tiny-rn/random", "--neuron", "visual.layer4.0.act3@in:999", "--out", str(out)])
    assert rc == 2 and "0..255" in capsys.readouterr().err
    rc = main(["render", "--model", "tiny-rn/random", "--neuron", "1", "--facet", "nope", "--out", str(out)])
    assert rc == 2 and "Unknown facet" in capsys.readouterr().err


def test_strip_renders_missing_items_and_cancels_cleanly(tiny_rn, artifacts):
    from core.featurevis.strip import RenderCancelled, cached_strip, render_strip, strip_items

    items = strip_items(2, ())
    assert [i.label for i in items] == ["channel · seed 0", "channel · seed 1"]
    assert cached_strip(tiny_rn, LAYER, 9, items, steps=5) == [None, None]
    seen = []
    with pytest.raises(RenderCancelled):  # cancel during the second picture
        render_strip(tiny_rn, LAYER, 9, items, steps=5, progress=lambda d, t: seen.append((d, t)),
                     cancelled=lambda: len(seen) >= 7)
    first, second = cached_strip(tiny_rn, LAYER, 9, items, steps=5)
    assert first is not None and second is None and _no_hooks(tiny_rn)
    assert seen[:5] == [(k, 10) for k in range(1, 6)]
    done = render_strip(tiny_rn, LAYER, 9, items, steps=5)
    assert [r.meta["cached"] for r in done] == [True, False]
    assert all(r is not None for r in cached_strip(tiny_rn, LAYER, 9, items, steps=5))


def test_render_on_a_vit(tiny_vit):
    from core.model.hooks import article_layer

    layer = article_layer(tiny_vit)  # last MLP hidden units, (B, L, D)
    r = render(tiny_vit, f"{layer}:3", steps=12, seed=0)
    assert r.images.shape == (1, 32, 32, 3) and np.mean(r.losses[-3:]) < np.mean(r.losses[:3])
    n = render(tiny_vit, neuron(layer, 3, x=0), steps=2)  # the class token
    assert np.isfinite(n.losses).all() and _no_hooks(tiny_vit)


@pytest.mark.parametrize("fused,steps", [("standard", "standard_steps"), ("light", "light_steps")])
def test_fused_transforms_match_the_composed_steps(fused, steps):
    from core.featurevis import transforms as T

    yy, xx = torch.meshgrid(torch.linspace(0, 1, 64), torch.linspace(0, 1, 64), indexing="ij")
    bump = torch.sin(3.1416 * xx) * torch.sin(3.1416 * yy)  # smooth, grey (= fill) at the border
    x = (0.5 + 0.1 * torch.sin(6 * xx + 3 * yy) * bump)[None, None].repeat(2, 3, 1, 1)
    for seed in range(8):
        a = T.compose(getattr(T, fused)(64))(x, torch.Generator().manual_seed(seed))
        b = T.compose(getattr(T, steps)(64))(x, torch.Generator().manual_seed(seed))
        assert a.shape == b.shape == (2, 3, 64, 64)
        assert float((a - b).abs().max()) < 0.02  # one bilinear resampling vs a cascade of them

"""core.model.fast_text: the int8 text tower agrees with float32, never touches the shared model, and is opt-out."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from core.model import fast_text
from core.model.embed import _encode_trimmed, encode_text, tokenize
from core.model.fingerprint import fingerprint
from core.model.loading import load_model
from core.pipeline.demo import CATEGORIES


@pytest.fixture(scope="module")
def demo():
    return load_model("demo")


def test_self_attention_rewrite_equals_multihead_attention():
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(32, 4, batch_first=True).eval()
    x = torch.randn(3, 7, 32)
    mask = torch.full((7, 7), float("-inf")).triu(1)  # open_clip's causal text mask (additive)
    ref = mha(x, x, x, need_weights=False, attn_mask=mask)[0]
    out, weights = fast_text._SelfAttention(mha)(x, x, x, need_weights=False, attn_mask=mask)
    assert weights is None and torch.allclose(out, ref, atol=1e-5)


def test_int8_tower_agrees_with_float32_on_the_trained_demo(demo):
    before = fingerprint(demo.model, demo.config)
    tower = fast_text.build(demo.model)
    texts = [f"a drawing of a {c}" for c in CATEGORIES] + list(CATEGORIES) + ["puppy", "a red stop sign"]
    tokens = tokenize(demo, texts)
    with torch.inference_mode():
        fast = _encode_trimmed(tower, tokens)
    exact = encode_text(demo, texts)
    cos = (fast * exact).sum(1)
    assert cos.min() >= 0.999, cos.min()
    prompts = exact[: len(CATEGORIES)]  # zero-shot over the category prompts: the same choice for every text
    assert torch.equal((fast @ prompts.T).argmax(1), (exact @ prompts.T).argmax(1))
    assert any(type(m).__name__ == "Linear" and "quantized" in type(m).__module__ for m in tower.modules())
    # the shared model is untouched: same weights, still nn.MultiheadAttention
    assert fingerprint(demo.model, demo.config) == before
    assert all(isinstance(b.attn, nn.MultiheadAttention) for b in demo.model.transformer.resblocks)


def test_only_big_cpu_text_towers_use_it_and_the_env_switch_turns_it_off(demo, tiny_rn, monkeypatch):
    assert not fast_text.worthwhile(demo) and fast_text.text_tower(demo) is None  # 0.6 M: float32 is fast
    monkeypatch.setattr(fast_text, "MIN_PARAMS", 0)
    assert fast_text.worthwhile(tiny_rn)
    tower = fast_text.text_tower(tiny_rn)
    assert tower is not None and fast_text.text_tower(tiny_rn) is tower  # built once, cached per fingerprint
    monkeypatch.setenv("CLIP_EXPLORER_EXACT_TEXT", "1")
    assert not fast_text.worthwhile(tiny_rn) and fast_text.text_tower(tiny_rn) is None


def test_text_to_neurons_default_is_int8_and_exact_is_float32(tiny_rn, monkeypatch, capsys):
    from core.analyses.search import text_to_neurons
    from core.cli import main

    monkeypatch.setattr(fast_text, "MIN_PARAMS", 0)
    fast = text_to_neurons(tiny_rn, "a striped cat", top=20)
    exact = text_to_neurons(tiny_rn, "a striped cat", top=20, exact=True)
    assert not fast["weight"].equals(exact["weight"]), "the default path must be the int8 tower here"
    assert len(set(fast["unit"][:10]) & set(exact["unit"][:10])) >= 7
    monkeypatch.setenv("CLIP_EXPLORER_EXACT_TEXT", "1")
    assert text_to_neurons(tiny_rn, "a striped cat", top=20)["weight"].equals(exact["weight"])
    monkeypatch.delenv("CLIP_EXPLORER_EXACT_TEXT")
    assert main(["neurons", "--model", "tiny-rn/random", "--query", "a striped cat", "--top", "20",
                 "--exact", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["neurons"]
    assert [r["unit"] for r in rows] == exact["unit"].tolist()

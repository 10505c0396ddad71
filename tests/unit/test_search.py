"""Search: neuron directions (ResNet attention pool, ViT direct path), text/image -> neurons, kNN images."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from core.analyses.search import (
    DirectionUnavailableError,
    image_to_neurons,
    images_for_embedding,
    neuron_directions,
    neurons_for_embedding,
    query_images,
    text_to_neurons,
)
from core.errors import ArtifactMismatchError, BadInputError
from core.pipeline.extract import run_extraction
from core.pipeline.index import build_index


@pytest.fixture(scope="module")
def indexed(tiny_rn, tmp_path_factory):
    from tests.conftest import make_image_folder

    base = tmp_path_factory.mktemp("search")
    art = run_extraction(tiny_rn, make_image_folder(base / "images"), base / "art", workers=0)
    return art, build_index(art)


def test_resnet_directions_are_the_attention_pool_linearisation(tiny_rn):
    pool = tiny_rn.model.visual.attnpool
    raw = neuron_directions(tiny_rn, normalize=False)
    torch.testing.assert_close(raw, (pool.c_proj.weight @ pool.v_proj.weight).T)
    unit = neuron_directions(tiny_rn)
    assert unit.shape == (256, 16)
    torch.testing.assert_close(unit.norm(dim=1), torch.ones(256))
    # the post-ReLU block output feeds the same pool: same directions
    torch.testing.assert_close(neuron_directions(tiny_rn, "visual.layer4.0"), unit)
    with pytest.raises(DirectionUnavailableError, match="Available: visual.layer4.0.act3@in"):
        neuron_directions(tiny_rn, "visual.layer3.0.act3@in")


def test_vit_directions_are_the_direct_path(tiny_vit):
    v = tiny_vit.model.visual
    w = neuron_directions(tiny_vit, "visual.transformer.resblocks.0.mlp.gelu", normalize=False)
    c = v.transformer.resblocks[0].mlp.c_proj.weight  # (width, hidden)
    u = 7
    torch.testing.assert_close(w[u], (v.ln_post.weight * c[:, u]) @ v.proj)
    assert neuron_directions(tiny_vit).shape == (64, 16)


def test_rn50x4_directions_are_640_by_2560():
    from core.model.loading import load_model

    m = load_model("RN50x4/random")
    d = neuron_directions(m)
    assert d.shape == (2560, 640)  # (units, embedding): the article's W = c_proj @ v_proj is 640 x 2560
    assert text_to_neurons(m, "spider", top=5)["unit"].between(0, 2559).all()


def test_text_to_neurons_scores_v_of_t_and_scales_by_std(tiny_rn):
    from core.model.embed import encode_text

    df = text_to_neurons(tiny_rn, "a cat", top=256)
    t = encode_text(tiny_rn, ["a cat"])[0]
    v = (neuron_directions(tiny_rn, normalize=False) @ t).numpy()
    assert list(df["unit"]) == list(np.argsort(-v, kind="stable"))
    np.testing.assert_allclose(df["score"], np.sort(v)[::-1], rtol=1e-5)
    assert df["neuron"].iloc[0] == f"visual.layer4.0.act3@in:{df['unit'].iloc[0]}" and list(df["rank"][:2]) == [1, 2]
    std = np.ones(256, np.float32)
    std[int(df["unit"].iloc[-1])] = 1e6  # the most negative unit becomes the top one once scaled
    scaled = text_to_neurons(tiny_rn, "a cat", top=3, unit_std=-std)
    assert scaled["unit"].iloc[0] == df["unit"].iloc[-1]
    low = text_to_neurons(tiny_rn, "a cat", top=1, most_negative=True)
    assert low["unit"].iloc[0] == df["unit"].iloc[-1]
    for bad in ({"text": " "}, {"text": "cat", "top": 0}, {"text": "cat", "unit_std": np.ones(3)}):
        with pytest.raises(BadInputError):
            text_to_neurons(tiny_rn, **bad)


def test_image_to_neurons_matches_the_extracted_row(tiny_rn, indexed):
    art, _ = indexed
    row = 4
    df = image_to_neurons(tiny_rn, art.image_path(row), top=256)
    want = art.max[row].astype(np.float32)
    np.testing.assert_allclose(df.sort_values("unit")["activation"], want, rtol=2e-3, atol=1e-6)
    assert df["activation"].is_monotonic_decreasing and df["z"].isna().all()
    top = df.iloc[0]
    assert top["position"] == art.argmax[row, top["unit"]] and top["y"] * 2 + top["x"] == top["position"]
    z = image_to_neurons(tiny_rn, art.image_path(row), top=5, unit_std=art.unit_std)
    assert z["z"].is_monotonic_decreasing
    np.testing.assert_allclose(z["z"], z["activation"] / art.unit_std[z["unit"]], rtol=1e-5)


def test_query_images_by_image_and_text(tiny_rn, tiny_vit, indexed):
    art, idx = indexed
    df = query_images(tiny_rn, art, idx, image=art.image_path(7), top=12)
    # a random tiny model maps all images close together: the image itself must score as high as any (f16 ties)
    mine = df[df["row"] == 7].iloc[0]
    assert mine["key"] == art.keys[7] and mine["score"] >= df["score"].iloc[0] - 1e-3 and mine["score"] > 0.99
    assert df["score"].is_monotonic_decreasing and sorted(df["row"]) == list(range(12))
    txt = query_images(tiny_rn, art, idx, text="a boat", top=12)
    emb = art.embeddings.astype(np.float32)
    from core.model.embed import encode_text

    want = np.argsort(-(emb / np.linalg.norm(emb, axis=1, keepdims=True)) @ encode_text(tiny_rn, ["a boat"])[0].numpy(),
                      kind="stable")
    assert set(txt["row"][:3]) == set(want[:3]) and list(txt.columns[:4]) == ["rank", "row", "key", "label"]
    with pytest.raises(BadInputError, match="exactly one"):
        query_images(tiny_rn, art, idx, text="x", image=art.image_path(0))
    with pytest.raises(ArtifactMismatchError):
        query_images(tiny_vit, art, idx, text="a boat")


def test_one_embedding_serves_the_neuron_ranking_and_the_image_knn(tiny_rn, tiny_vit, indexed):
    """The dashboard encodes a query once and ranks neurons and images from that embedding: the same results as
    ``text_to_neurons`` / ``query_images`` with the text, and the same checks."""
    from core.model.embed import encode_text

    art, idx = indexed
    t = encode_text(tiny_rn, ["a boat"], fast=True)[0].numpy()
    std = art.unit_std
    pd.testing.assert_frame_equal(neurons_for_embedding(tiny_rn, t, top=7, unit_std=std),
                                  text_to_neurons(tiny_rn, "a boat", top=7, unit_std=std))
    pd.testing.assert_frame_equal(images_for_embedding(tiny_rn, art, idx, t, top=5),
                                  query_images(tiny_rn, art, idx, text="a boat", top=5))
    with pytest.raises(ArtifactMismatchError):
        images_for_embedding(tiny_vit, art, idx, t[:16], top=5)
    with pytest.raises(BadInputError):
        neurons_for_embedding(tiny_rn, t, top=0)

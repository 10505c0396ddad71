"""Feature visualization and facets on the embedded demo model (real trained weights)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # the demo weights are shipped: no skip if missing

UNITS = (7, 120, 333)
STEPS = 96


@pytest.fixture(scope="module")
def demo():
    from core.model.loading import load_model

    return load_model("demo")


@pytest.fixture(scope="module")
def held_out_mean_image(demo) -> torch.Tensor:
    """The mean picture of the demo collection's held-out split, at the model's input size: (1, 3, S, S)."""
    from core.pipeline.demo import load_corpus_image, load_corpus_index

    df = load_corpus_index()
    ids = df.loc[df["split"] == "test", "id"].tolist()
    s = demo.image_size
    arr = np.mean([np.asarray(load_corpus_image(i).resize((s, s)), np.float32) / 255.0 for i in ids], axis=0)
    return torch.from_numpy(arr).permute(2, 0, 1)[None]


@pytest.mark.parametrize("unit", UNITS)
def test_render_beats_noise_and_the_collection_mean(demo, held_out_mean_image, unit):
    from core.featurevis import channel, render, score_images
    from core.model.hooks import article_layer

    obj = channel(article_layer(demo), unit)
    r = render(demo, obj, steps=STEPS, seed=0)
    assert np.mean(r.losses[-8:]) < np.mean(r.losses[:8])
    rendered = float(score_images(demo, obj, torch.from_numpy(r.images).permute(0, 3, 1, 2))[0])
    noise = score_images(demo, obj, torch.rand(8, 3, demo.image_size, demo.image_size,
                                                generator=torch.Generator().manual_seed(unit)))
    mean_img = float(score_images(demo, obj, held_out_mean_image)[0])
    assert rendered > float(noise.max()), (rendered, noise.tolist())
    assert rendered > mean_img, (rendered, mean_img)


def test_facet_probes_beat_chance_on_held_out_demo_images(demo, tmp_path, monkeypatch):
    from core.featurevis import facets
    from core.pipeline.demo import CATEGORIES

    monkeypatch.setenv("CLIP_EXPLORER_ARTIFACTS", str(tmp_path / "artifacts"))
    text = facets.train_facet(demo, "text")
    assert text.test_acc > 0.9, text  # rendered words vs pictures, held-out words and pictures
    accs = {c: facets.train_facet(demo, c).test_acc for c in CATEGORIES}  # balanced accuracy, chance 0.5
    assert np.mean(list(accs.values())) > 0.65, accs
    # a category's own held-out score is only meaningful with a few held-out pictures (boat has one)
    data = facets.facet_features(demo)
    held = {c: int(((data["labels"] == c) & (data["splits"] == "test")).sum()) for c in CATEGORIES}
    assert all(accs[c] > 0.55 for c in CATEGORIES if held[c] >= 5), (accs, held)

"""The CLI at the article's scale: RN50x4 (2,560 units, 288 px) from a checkpoint file (``--checkpoint FILE --arch
RN50x4``), random weights, offline. The checkpoint and a 16-picture index are cached (``tests/rn50x4.py``); every
command's ``--json`` output is checked for real content. About a minute warm on a 2-core box (more when it is shared), plus the first build of the cache."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from core.cli import main
from tests import rn50x4 as R

pytestmark = pytest.mark.rn50x4

LAYER = "visual.layer4.5.act3@in"  # the article's layer: the last block's pre-ReLU residual sum


@pytest.fixture(scope="module")
def ckpt():
    return ["--checkpoint", str(R.checkpoint()), "--arch", R.ARCH]


@pytest.fixture(scope="module", autouse=True)
def load_once():
    """Each in-process command loads the checkpoint once for the module, not once per command (3-9 s each on the
    2-core box). The real load from the file runs here and in ``test_layers_from_the_command_line``'s process."""
    from core.model import loading as models

    real, loaded = models.load_model, {}

    def load_model(model_id=None, **kw):
        if model_id != R.model_id() or kw:
            return real(model_id, **kw)
        if model_id not in loaded:
            loaded[model_id] = real(model_id)
        return loaded[model_id]

    mp = pytest.MonkeyPatch()
    mp.setattr(models, "load_model", load_model)
    yield
    mp.undo()


@pytest.fixture(scope="module")
def art(ckpt):
    from core.model.loading import load_model

    return R.index(load_model(R.model_id()))


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """A fresh artifacts dir (feature-visualization and word caches land there, not in the shared cache)."""
    monkeypatch.setenv("CLIP_EXPLORER_ARTIFACTS", str(tmp_path / "artifacts"))
    return tmp_path


def run_json(capsys, args):
    code = main(args + ["--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_layers_from_the_command_line(ckpt):
    """The real entry point (``python -m core``) loads the checkpoint file: 2,560 units at the article's layer."""
    proc = subprocess.run([sys.executable, "-m", "core", "layers", *ckpt, "--json"], capture_output=True, text=True,
                          timeout=300, cwd=R.REPO_ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(proc.stdout)
    assert res["model"] == f"RN50x4@{R.checkpoint()}" and res["article_layer"] == LAYER
    layers = {li["id"]: li for li in res["layers"]}
    assert layers[LAYER]["units"] == R.UNITS and layers[LAYER]["article"]
    assert sum(li["article"] for li in res["layers"]) == 1
    assert layers["visual.layer4.5"]["units"] == R.UNITS and "visual.layer3.5" in layers  # RN50x4: 4-6-10-6 blocks
    assert "visual.layer3.9" in layers and "visual.layer4.6" not in layers


def test_index_a_small_folder(ckpt, scratch, capsys):
    from tests.conftest import make_image_folder

    images = make_image_folder(scratch / "images", n_per_class=2, classes=("cat", "dog"), size=64)
    res = run_json(capsys, ["index", *ckpt, "--images", str(images), "--out", str(scratch / "art"), "--workers", "0",
                            "--batch-size", "4", "--no-progress"])
    assert res["rows"] == 4 and res["units"] == R.UNITS and res["layer"] == LAYER and res["index"] == "flat"
    assert res["grid"] == [9, 9] and res["model"] == f"RN50x4@{R.checkpoint()}" and res["skipped"] == []


def test_the_cached_index(art):
    from core.pipeline.store import open_artifact

    a = open_artifact(art)
    assert a.rows == len(R.CLASSES) * R.PER_CLASS and a.units == R.UNITS and a.layer == LAYER
    assert a.manifest["embed_dim"] == 640 and tuple(a.grid) == (9, 9)


def test_neurons_for_a_text_and_an_image(ckpt, art, capsys):
    res = run_json(capsys, ["neurons", *ckpt, "--query", "spider", "--top", "5"])
    units = [n["unit"] for n in res["neurons"]]
    assert len(units) == 5 and len(set(units)) == 5 and all(0 <= u < R.UNITS for u in units)
    assert all(n["neuron"] == f"{LAYER}:{n['unit']}" for n in res["neurons"])
    scores = [n["score"] for n in res["neurons"]]
    assert scores == sorted(scores, reverse=True) and not res["scaled_by_std"]
    img = next((R.images() / "flag").glob("*.png"))
    res = run_json(capsys, ["neurons", *ckpt, "--image", str(img), "--index", str(art), "--top", "4"])
    assert res["scaled_by_std"] and len(res["neurons"]) == 4
    top = res["neurons"][0]
    assert top["neuron"].startswith(LAYER + ":") and top["z"] is not None and 0 <= top["y"] < 9 and 0 <= top["x"] < 9


def test_images_for_a_text_and_an_image(ckpt, art, capsys):
    res = run_json(capsys, ["images", "--index", str(art), "--query", "a flag", "--top", "5"])
    assert res["model"] == f"RN50x4@{R.checkpoint()}" and len(res["images"]) == 5  # the model named by the index
    assert {h["label"] for h in res["images"]} <= set(R.CLASSES)
    img = next((R.images() / "fruit").glob("*.png"))
    res = run_json(capsys, ["images", "--index", str(art), *ckpt, "--image", str(img), "--top", "16"])
    hits = res["images"]
    mine = next(h for h in hits if h["key"] == f"fruit/{img.name}")
    assert len(hits) == 16 and mine["rank"] == 1 and mine["score"] == pytest.approx(1.0, abs=2e-2)


def test_render_a_few_steps(ckpt, scratch, capsys):
    from PIL import Image

    out = scratch / "fv.png"
    res = run_json(capsys, ["render", *ckpt, "--neuron", "2559", "--steps", "3", "--out", str(out)])
    assert res["neuron"] == f"{LAYER}:2559" and res["steps"] == 3 and not res["cached"]
    assert Image.open(out).size == (R.IMAGE_SIZE, R.IMAGE_SIZE)
    again = run_json(capsys, ["render", *ckpt, "--neuron", f"{LAYER}:2559", "--steps", "3", "--out", str(out)])
    assert again["cached"] and again["final_objective"] == res["final_objective"]


def test_words_with_a_small_vocabulary(ckpt, scratch, capsys, monkeypatch):
    from core.analyses.words import load_vocabulary

    monkeypatch.setenv("CLIP_EXPLORER_VOCAB_SIZE", "8")
    vocab = load_vocabulary()
    res = run_json(capsys, ["words", *ckpt, "--neuron", "100", "--top", "5"])
    assert res["neuron"] == f"{LAYER}:100" and len(res["top"]) == len(res["bottom"]) == 5
    assert {w["word"] for w in res["top"] + res["bottom"]} <= set(vocab) and len(vocab) == 8
    acts = [w["activation"] for w in res["top"]]
    assert acts == sorted(acts, reverse=True) and res["top"][0]["activation"] >= res["bottom"][0]["activation"]
    near = run_json(capsys, ["words", *ckpt, "--near", vocab[0], "--top", "3"])  # the scored table, from its cache
    assert len(near["nearest"]) == 3 and vocab[0] not in {w["word"] for w in near["nearest"]}

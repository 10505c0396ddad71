"""The project against OpenAI's own CLIP code (``openai-clip`` 1.0.1), on full-size RN50x4 and ViT-B/32 with random
weights, saved as OpenAI's fp16 TorchScript archives and as plain state dicts (``tests/openai_reference.py``).

The reference side never goes through open_clip: OpenAI's ``build_model`` on the archive's state dict, OpenAI's
``_transform`` and ``tokenize``, hooks on OpenAI's modules. The project side is what users run: ``load_model`` on the
file, ``core.pipeline.extract.run_extraction`` read back through ``core.pipeline.store``, ``core.model.embed``, ``core.analyses.search``.

Archives take ~40 s each to trace in fp16 on CPU; they are cached under ``test-artifacts/reference-weights/``
(git-ignored), keyed by a content version, the architecture and the torch version.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from core.model.loading import load_model

REPO = Path(__file__).resolve().parents[2]
CONTENT_VERSION = "v1"  # bump when tests/openai_reference.py changes what it writes
SEED = {"RN50x4": 0, "ViT-B-32": 1}
TEXTS = ["a photo of a spider", "Spider-Man", "a red car parked by the road"]
OPENAI_EXTRA = ("input_resolution", "context_length", "vocab_size")


def _cache_dir() -> Path:
    root = Path(os.environ.get("CLIP_EXPLORER_TEST_CACHE", REPO / "test-artifacts"))
    return root / "reference-weights" / f"{CONTENT_VERSION}-torch{torch.__version__}"


def _archive(arch: str) -> Path:
    """OpenAI-form TorchScript archive of ``arch`` (random weights), made once and cached on disk."""
    from tests.openai_reference import make_openai_model, save_torchscript

    path = _cache_dir() / f"{arch}-seed{SEED[arch]}.pt"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        save_torchscript(make_openai_model(arch, seed=SEED[arch]), tmp, arch)
        os.replace(tmp, path)
    return path


def _images(folder: Path, n: int = 3) -> list[Path]:
    """A few photos-like images of different sizes and aspect ratios (smooth noise plus a shape)."""
    rng = np.random.default_rng(7)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, (w, h) in enumerate([(320, 240), (200, 300), (288, 288), (500, 410)][:n]):
        small = rng.integers(0, 255, (h // 16 + 1, w // 16 + 1, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((w, h), Image.BILINEAR)
        arr = np.asarray(img).copy()
        arr[h // 4: h // 2, w // 3: 2 * w // 3] = rng.integers(0, 255, 3)
        p = folder / f"img{i}.png"
        Image.fromarray(arr).save(p)
        out.append(p)
    return out


class Setup:
    """One architecture's files, the reference model and the project's model (built once per module)."""

    def __init__(self, arch: str, tmp: Path):
        from tests.openai_reference import reference, reference_from_state_dict

        self.arch = arch
        self.archive = _archive(arch)
        state = torch.jit.load(str(self.archive), map_location="cpu").state_dict()
        self.ref = reference_from_state_dict(state)
        self.clip = reference().clip
        self.state_pt = tmp / f"{arch}-state.pt"  # the archive's own tensors (fp16 as released), torch.save'd
        torch.save({k: v for k, v in state.items() if k not in OPENAI_EXTRA}, self.state_pt)
        self.proj = load_model(f"{arch}@{self.archive}")
        self.images = _images(tmp / "images" / "x")
        self.size = self.ref.visual.input_resolution

    def ref_pixels(self) -> torch.Tensor:
        tf = self.clip._transform(self.size)
        return torch.stack([tf(Image.open(p)) for p in self.images])

    def ref_text(self, texts=TEXTS) -> torch.Tensor:
        with torch.no_grad():
            return F.normalize(self.ref.encode_text(self.clip.tokenize(texts)).float(), dim=-1)


@pytest.fixture(scope="module")
def rn(tmp_path_factory):
    return Setup("RN50x4", tmp_path_factory.mktemp("rn50x4"))


@pytest.fixture(scope="module")
def vit(tmp_path_factory):
    return Setup("ViT-B-32", tmp_path_factory.mktemp("vitb32"))


def _cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return F.cosine_similarity(a.float(), b.float(), dim=-1)


# ---------------------------------------------------------------- RN50x4

def test_rn50x4_preprocess_and_tokens_identical(rn):
    from core.model.embed import preprocess_batch

    pixels = preprocess_batch(rn.proj, [Image.open(p) for p in rn.images])
    assert pixels.shape == (3, 3, 288, 288)
    torch.testing.assert_close(pixels, rn.ref_pixels(), rtol=0, atol=1e-6)  # bicubic, centre crop, OpenAI mean/std
    torch.testing.assert_close(rn.proj.tokenizer(TEXTS), rn.clip.tokenize(TEXTS).to(torch.long), rtol=0, atol=0)


def test_rn50x4_article_unit_artifact_equals_reference(rn, tmp_path):
    """layer4[5]'s pre-ReLU residual sum (2,560 units, 9x9): stored max, argmax cell and mean = the reference's,
    up to float16 rounding; stored image embeddings cosine >= 0.9999."""
    from core.pipeline.extract import run_extraction
    from core.pipeline.store import open_artifact

    run_extraction(rn.proj, rn.images[0].parent.parent, tmp_path / "art", batch_size=len(rn.images), workers=0,
                   topk=2)
    art = open_artifact(tmp_path / "art", rn.proj, layer="visual.layer4.5.act3@in")
    assert art.units == 2560 and tuple(art.grid) == (9, 9) and art.rows == len(rn.images)
    assert art.keys == [f"x/{p.name}" for p in rn.images]

    acts = {}
    relu3 = rn.ref.visual.layer4[5].relu3
    handle = relu3.register_forward_pre_hook(lambda _m, args: acts.__setitem__("x", args[0].clone()))
    try:
        with torch.no_grad():
            emb = F.normalize(rn.ref.encode_image(rn.ref_pixels()).float(), dim=-1)
    finally:
        handle.remove()
    flat = acts["x"].flatten(2).numpy()  # (B, 2560, 81), float32
    ref_max, ref_arg, ref_mean = flat.max(2), flat.argmax(2), flat.mean(2)

    def within_fp16_rounding(stored, ref):
        ulp = np.spacing(np.abs(ref).astype(np.float16)).astype(np.float32)  # one float16 step at the value
        return np.abs(stored.astype(np.float32) - ref) <= ulp

    assert within_fp16_rounding(art.max, ref_max).all()
    assert within_fp16_rounding(art.mean, ref_mean).mean() > 0.999  # a mean is a sum of 81: last-bit noise
    np.testing.assert_allclose(art.mean.astype(np.float32), ref_mean, rtol=2e-3, atol=1e-3 * np.abs(ref_mean).max())
    same = art.argmax.astype(np.int64) == ref_arg
    at_stored = np.take_along_axis(flat, art.argmax.astype(np.int64)[..., None], 2)[..., 0]
    assert same.mean() > 0.999 and np.allclose(at_stored[~same], ref_max[~same], rtol=1e-5)  # only exact near-ties
    assert _cos(torch.from_numpy(art.embeddings.astype(np.float32)), emb).min() >= 0.9999


def test_rn50x4_text_embeddings_and_zero_shot_neuron_search(rn):
    from core.analyses.search import text_to_neurons
    from core.model.embed import encode_text

    ours = encode_text(rn.proj, TEXTS)  # float32 (no int8 copy)
    ref = rn.ref_text()
    assert _cos(ours, ref).min() >= 0.9999
    pool = rn.ref.visual.attnpool
    w = (pool.c_proj.weight.float() @ pool.v_proj.weight.float())  # (640, 2560): the article's W_o W_v
    for text, t in zip(TEXTS, ref):
        want = torch.argsort(w.T @ t, descending=True)[:10].tolist()
        got = text_to_neurons(rn.proj, text, top=10, exact=True)
        assert got["unit"].tolist() == want, text
        assert got["neuron"].iloc[0] == f"visual.layer4.5.act3@in:{want[0]}"


def test_rn50x4_state_dict_is_the_archive_model_with_quickgelu(rn):
    """The archive's tensors as a plain state dict: RN50x4-quickgelu is the archive's model (same fingerprint,
    same embeddings). (That a GELU load gets another fingerprint is tested on tiny models in test_models.py.)"""
    sd = load_model(f"RN50x4-quickgelu@{rn.state_pt}")
    assert sd.fingerprint == rn.proj.fingerprint
    with torch.no_grad():
        torch.testing.assert_close(sd.model.encode_image(rn.ref_pixels()[:1]),
                                   rn.ref.encode_image(rn.ref_pixels()[:1]), rtol=1e-4, atol=1e-4)
    from core.model.embed import encode_text

    assert _cos(encode_text(sd, TEXTS), rn.ref_text()).min() >= 0.9999


def test_rn50x4_openai_id_from_the_weights_folder(rn, tmp_path, monkeypatch):
    """Offline, RN50x4/openai names the exact path to put the file at; OpenAI's archive put there loads the id."""
    from core.errors import WeightsUnavailableError
    from core.model.loading import weights_available

    weights = tmp_path / "weights"
    monkeypatch.setenv("CLIP_EXPLORER_WEIGHTS", str(weights))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.cache/clip copy from this machine's user
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    target = weights / "RN50x4" / "openai.pt"
    assert not weights_available("RN50x4/openai")
    with pytest.raises(WeightsUnavailableError) as err:
        load_model("RN50x4/openai")
    assert f"Copy the weights file to {target} " in str(err.value)
    target.parent.mkdir(parents=True)
    shutil.copyfile(rn.archive, target)
    assert weights_available("RN50x4/openai")
    loaded = load_model("RN50x4/openai")
    assert loaded.id == "RN50x4/openai" and loaded.fingerprint == rn.proj.fingerprint


def test_rn50x4_cli_layers_on_the_archive_and_a_wrong_arch(rn):
    """The issue's command works on OpenAI's form; a wrong --arch is one short line naming the file's arch (the
    CLI's one-line exit 2 for a bad checkpoint is tested cheaply in test_models.py)."""
    from core.errors import BadCheckpointError

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    ok = subprocess.run([sys.executable, "-m", "core", "layers", "--checkpoint", str(rn.archive), "--arch", "RN50x4"],
                        cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "visual.layer4.5.act3@in" in ok.stdout
    with pytest.raises(BadCheckpointError) as err:
        load_model(f"RN50@{rn.archive}")
    msg = str(err.value)
    assert "\n" not in msg and len(msg) < 600
    assert "does not match architecture RN50:" in msg and "looks like RN50x4 (ModifiedResNet 4-6-10-6" in msg


# ---------------------------------------------------------------- ViT-B/32

def test_vitb32_mlp_units_residual_stream_and_embeddings(vit):
    from core.model.embed import encode_images, encode_text, preprocess_batch
    from core.model.hooks import capture

    pixels = preprocess_batch(vit.proj, [Image.open(p) for p in vit.images])
    torch.testing.assert_close(pixels, vit.ref_pixels(), rtol=0, atol=1e-6)
    blocks = (5, 11)
    layers = [f"visual.transformer.resblocks.{k}{s}" for k in blocks for s in (".mlp.gelu", "")]
    with torch.no_grad(), capture(vit.proj, layers) as ours:
        emb = encode_images(vit.proj, pixels)
    ref_acts, handles = {}, []
    for k in blocks:
        block = vit.ref.visual.transformer.resblocks[k]
        for mod, name in ((block.mlp.gelu, f"visual.transformer.resblocks.{k}.mlp.gelu"),
                          (block, f"visual.transformer.resblocks.{k}")):
            handles.append(mod.register_forward_hook(
                lambda _m, _a, out, _n=name: ref_acts.__setitem__(_n, out.permute(1, 0, 2).clone())))  # LND -> NLD
    try:
        with torch.no_grad():
            ref_emb = F.normalize(vit.ref.encode_image(vit.ref_pixels()).float(), dim=-1)
    finally:
        for h in handles:
            h.remove()
    for name in layers:
        a, b = ours[name], ref_acts[name]
        assert a.shape == b.shape == ((3, 50, 3072) if name.endswith("gelu") else (3, 50, 768)), name
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * float(b.abs().max()))
    assert _cos(emb, ref_emb).min() >= 0.9999
    assert _cos(encode_text(vit.proj, TEXTS), vit.ref_text()).min() >= 0.9999


def test_vitb32_directions_through_c_proj_and_the_projection(vit):
    from core.analyses.search import neuron_directions

    v = vit.ref.visual
    for k in (5, 11):
        got = neuron_directions(vit.proj, f"visual.transformer.resblocks.{k}.mlp.gelu", normalize=False)
        c_proj = v.transformer.resblocks[k].mlp.c_proj.weight.float()  # (768, 3072)
        want = (v.ln_post.weight.float()[:, None] * c_proj).T @ v.proj.float()  # (3072, 512)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_vitb32_state_dict_is_the_archive_model_with_quickgelu(vit):
    sd = load_model(f"ViT-B-32-quickgelu@{vit.state_pt}")
    assert sd.fingerprint == vit.proj.fingerprint
    with torch.no_grad():
        torch.testing.assert_close(sd.model.encode_image(vit.ref_pixels()[:1]),
                                   vit.ref.encode_image(vit.ref_pixels()[:1]), rtol=1e-4, atol=1e-4)

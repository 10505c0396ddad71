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


# ---------------------------------------------------------------- real checkpoint formats (tiny architectures)

@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    """tiny-rn's weights in each format: OpenAI's TorchScript archive (fp16, traced), its state dict as a plain
    ``.pt`` under two names, and as safetensors."""
    from safetensors.torch import save_file

    from tests.conftest import register_tiny_configs
    from tests.openai_reference import make_openai_model, save_torchscript

    register_tiny_configs()
    d = tmp_path_factory.mktemp("tiny-weights")
    ref = make_openai_model("tiny-rn", seed=3)
    archive = save_torchscript(ref, d / "RN.pt", "tiny-rn")
    state = {k: v for k, v in torch.jit.load(str(archive)).state_dict().items()
             if k not in ("input_resolution", "context_length", "vocab_size")}
    torch.save(state, d / "state.pt")
    torch.save(state, d / "state_openai.pt")
    save_file({k: v.contiguous() for k, v in state.items()}, str(d / "state.safetensors"))
    return d


def _text_emb(m, text="a photo of a cat"):
    from core.model.embed import encode_text

    return encode_text(m, [text])[0]


def test_openai_torchscript_archive_loads_with_quickgelu(tiny_files):
    """OpenAI's TorchScript form (fp16, as released) loads; it is QuickGELU because of what it is, and computes
    what OpenAI's own module computes from the same archive."""
    from core.model.fingerprint import uses_quick_gelu
    from tests.openai_reference import ARCHS, reference

    m = load_model(f"tiny-rn@{tiny_files / 'RN.pt'}")
    assert uses_quick_gelu(m.model) and m.config["quick_gelu"] is True
    assert all(p.dtype == torch.float32 for p in m.model.parameters())
    ref_mod = reference().model
    ref = ref_mod.CLIP(**ARCHS["tiny-rn"])  # OpenAI's build_model assumes 64-wide heads: built explicitly here
    ref_mod.convert_weights(ref)
    state = torch.jit.load(str(tiny_files / "RN.pt")).state_dict()
    ref.load_state_dict({k: v for k, v in state.items() if k not in ("input_resolution", "context_length",
                                                                      "vocab_size")})
    ref = ref.float().eval()
    tokens = reference().clip.tokenize(["a photo of a cat"], context_length=16)
    pixels = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(m.model.encode_text(tokens), ref.encode_text(tokens), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(m.model.encode_image(pixels), ref.encode_image(pixels), rtol=1e-4, atol=1e-5)


def test_activation_from_what_the_file_is_never_its_name(tiny_files):
    """A state dict is GELU under any file name; ARCH-quickgelu asks for QuickGELU; the fingerprint tells them apart."""
    from core.model.fingerprint import uses_quick_gelu

    gelu = load_model(f"tiny-rn@{tiny_files / 'state.pt'}")
    named = load_model(f"tiny-rn@{tiny_files / 'state_openai.pt'}")
    safet = load_model(f"tiny-rn@{tiny_files / 'state.safetensors'}")
    quick = load_model(f"tiny-rn-quickgelu@{tiny_files / 'state.pt'}")
    archive = load_model(f"tiny-rn@{tiny_files / 'RN.pt'}")
    assert not uses_quick_gelu(gelu.model) and not uses_quick_gelu(named.model) and uses_quick_gelu(quick.model)
    assert gelu.fingerprint == named.fingerprint == safet.fingerprint
    assert quick.fingerprint == archive.fingerprint != gelu.fingerprint  # same weights, same activation
    torch.testing.assert_close(_text_emb(gelu), _text_emb(named))
    torch.testing.assert_close(_text_emb(quick), _text_emb(archive))
    assert not torch.allclose(_text_emb(gelu), _text_emb(quick), atol=1e-4)


def test_vit_state_dict_activation_and_fingerprint(tiny_vit, tmp_path):
    """The issue's case: one ViT state dict saved as vitb32.pt and vitb32_openai.pt is one model (GELU);
    tiny-vit-quickgelu is another, with another fingerprint and other embeddings."""
    state = {k: v.clone() for k, v in tiny_vit.model.state_dict().items()}
    for name in ("vitb32.pt", "vitb32_openai.pt"):
        torch.save(state, tmp_path / name)
    a = load_model(f"tiny-vit@{tmp_path / 'vitb32.pt'}")
    b = load_model(f"tiny-vit@{tmp_path / 'vitb32_openai.pt'}")
    q = load_model(f"tiny-vit-quickgelu@{tmp_path / 'vitb32.pt'}")
    assert a.fingerprint == b.fingerprint == tiny_vit.fingerprint != q.fingerprint
    pixels = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(a.model.encode_image(pixels), b.model.encode_image(pixels))
        assert not torch.allclose(a.model.encode_image(pixels), q.model.encode_image(pixels), atol=1e-4)


def test_fingerprint_holds_activation_and_preprocessing(tiny_files):
    from core.model.fingerprint import fingerprint
    from core.model.loading import load_checkpoint

    base, cfg = load_checkpoint(tiny_files / "state.pt", "tiny-rn")
    other_pp, cfg2 = load_checkpoint(tiny_files / "state.pt", "tiny-rn", preprocess={"mean": (0.5, 0.5, 0.5)})
    quick, cfg3 = load_checkpoint(tiny_files / "state.pt", "tiny-rn", quick_gelu=True)
    assert len({fingerprint(base, cfg), fingerprint(other_pp, cfg2), fingerprint(quick, cfg3)}) == 3
    # the config's claim does not decide: the modules do
    assert fingerprint(quick, cfg) == fingerprint(quick, cfg3)


def test_demo_fingerprint_unchanged_by_the_formula():
    """The shipped demo metrics are stamped with the demo's fingerprint; GELU and default preprocessing add nothing."""
    import json

    from core import config

    shipped = json.loads((config.DEMO_MODEL_DIR / "metrics.json").read_text())["fingerprint"]
    assert load_model("demo").fingerprint == shipped


def test_bad_checkpoints_one_clear_error(tiny_files, tmp_path):
    from core.errors import BadCheckpointError

    torch.save(torch.zeros(3, 4), tmp_path / "tensor.pt")
    torch.save([torch.zeros(2), torch.ones(2)], tmp_path / "list.pt")
    with pytest.raises(BadCheckpointError, match=r"holds a single tensor of shape \(3, 4\), not a state dict"):
        load_model(f"tiny-rn@{tmp_path / 'tensor.pt'}")
    with pytest.raises(BadCheckpointError, match="holds a list of 2 items, not a state dict"):
        load_model(f"tiny-rn@{tmp_path / 'list.pt'}")
    st = (tiny_files / "state.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(st[: len(st) // 2])
    (tmp_path / "junk.safetensors").write_bytes(b"\x00\x01 not a safetensors file" * 10)
    for name in ("cut.safetensors", "junk.safetensors"):
        with pytest.raises(BadCheckpointError, match="not a readable safetensors file"):
            load_model(f"tiny-rn@{tmp_path / name}")
    ts = (tiny_files / "RN.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(ts[: len(ts) // 2])
    with pytest.raises(BadCheckpointError, match="corrupt or truncated zip archive"):
        load_model(f"tiny-rn@{tmp_path / 'cut.pt'}")
    _damage_member(tiny_files / "RN.pt", tmp_path / "damaged.pt")
    with pytest.raises(BadCheckpointError, match="TorchScript archive that cannot be read"):
        load_model(f"tiny-rn@{tmp_path / 'damaged.pt'}")


def _damage_member(src, dst):
    """A readable zip whose TorchScript code member is garbage."""
    import zipfile

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.endswith("data.pkl"):
                data = b"\x80\x02garbage" + data[:7]
            zout.writestr(item, data)


def test_wrong_arch_is_summarised_with_the_file_arch(tiny_files, tmp_path):
    from core.errors import BadCheckpointError

    with pytest.raises(BadCheckpointError) as err:
        load_model(f"tiny-vit@{tiny_files / 'state.pt'}")
    msg = str(err.value)
    assert "\n" not in msg and len(msg) < 800
    assert "does not match architecture tiny-vit" in msg and "looks like tiny-rn" in msg and "--arch tiny-rn" in msg
    with pytest.raises(BadCheckpointError, match="looks like tiny-rn"):
        load_model(f"tiny-vit@{tiny_files / 'RN.pt'}")


def test_cli_bad_checkpoint_one_line_exit_2(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    torch.save([torch.zeros(2)], tmp_path / "list.pt")
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-m", "core", "layers", "--checkpoint", str(tmp_path / "list.pt"),
                           "--arch", "RN50x4"], cwd=repo, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "not a state dict" in lines[0]


def test_pretrained_ids_find_files_in_open_clips_caches(tmp_path, monkeypatch):
    """Besides <weights_dir>/ARCH/TAG.*, a file in the Hugging Face hub cache (open_clip's hub repo for the tag) or
    in ~/.cache/clip (open_clip's URL downloads) makes the id available offline; the load itself is the same
    load_checkpoint path as a weights-folder file (tests/unit/test_reference_clip.py loads RN50x4/openai that way)."""
    import huggingface_hub.constants as hc

    from core.model.loading import _local_weights, parse_model_id, weights_available

    monkeypatch.setenv("CLIP_EXPLORER_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "hub"))
    assert not weights_available("RN50x4/openai")
    repo = tmp_path / "hub" / "models--timm--resnet50x4_clip.openai"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    snap = repo / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (snap / "open_clip_pytorch_model.bin").write_bytes(b"x")
    assert weights_available("RN50x4/openai")
    spec = parse_model_id("RN50x4/openai")
    import open_clip

    pcfg = open_clip.get_pretrained_cfg("RN50x4", "openai")
    assert _local_weights(spec, pcfg) == snap / "open_clip_pytorch_model.bin"
    (snap / "open_clip_pytorch_model.bin").unlink()
    assert not weights_available("RN50x4/openai")
    clip_cache = tmp_path / "home" / ".cache" / "clip"
    clip_cache.mkdir(parents=True)
    (clip_cache / "RN50x4.pt").write_bytes(b"x")
    assert weights_available("RN50x4/openai")
    (tmp_path / "weights" / "RN50x4").mkdir(parents=True)
    (tmp_path / "weights" / "RN50x4" / "openai.safetensors").write_bytes(b"x")
    assert _local_weights(spec, pcfg) == tmp_path / "weights" / "RN50x4" / "openai.safetensors"  # the folder first

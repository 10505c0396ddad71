"""``python -m core layers`` without torch: the demo's shipped table, tables derived from open_clip's configs (every
architecture checked against the built model), remembered tables of checkpoint files, and that a stale or corrupt
record is never believed (``core.model.layer_table``)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import main
from core.model import layer_table

ROOT = Path(__file__).resolve().parents[2]


def _expected(loaded) -> dict:
    """What ``layers --json`` printed before any table was shipped or remembered: the live model's layers."""
    from dataclasses import asdict

    from core.model.hooks import article_layer, list_layers

    art = article_layer(loaded)
    return {"model": loaded.id, "article_layer": art,
            "layers": [asdict(li) | {"article": li.id == art} for li in list_layers(loaded)]}


def _layers(capsys, args) -> tuple[int, str, str]:
    code = main(["layers", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _subprocess_layers(args: list[str], artifacts: Path | None = None) -> tuple[str, set[str]]:
    """``layers`` in a fresh interpreter: its stdout and which heavy modules it imported."""
    code = ("import io, sys; from core.cli import main; real, sys.stdout = sys.stdout, io.StringIO(); "
            "rc = main(['layers', *sys.argv[1:]]); out = sys.stdout.getvalue(); sys.stdout = real; print(rc); "
            "print(' '.join(m for m in ('torch', 'open_clip', 'numpy') if m in sys.modules)); print(out, end='')")
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    env.pop("CLIP_EXPLORER_DEVICE", None)
    if artifacts is not None:
        env["CLIP_EXPLORER_ARTIFACTS"] = str(artifacts)
    res = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    rc, modules, out = res.stdout.split("\n", 2)
    assert rc == "0", res.stdout + res.stderr
    return out, set(modules.split())


@pytest.fixture(scope="module")
def tiny_file(tiny_rn, tmp_path_factory) -> str:
    """``tiny-rn@FILE``: a checkpoint in torch's legacy (non-zip) format, whose shapes are not read without torch:
    its table is remembered after the first listing, not derived."""
    import torch

    ckpt = tmp_path_factory.mktemp("tiny_ckpt") / "tiny.pt"
    torch.save(tiny_rn.model.state_dict(), ckpt, _use_new_zipfile_serialization=False)
    return f"tiny-rn@{ckpt}"


def _file_expected(loaded, model_id: str) -> dict:
    return _expected(loaded) | {"model": model_id}


@pytest.fixture(scope="module")
def demo():
    from core.model.loading import load_model

    return load_model("demo", device="cpu")


def test_shipped_demo_table_is_the_live_models(demo):
    """Regenerated from the live demo model, the shipped file is byte for byte the same (never stale: after a
    change to the demo config or to core.model.hooks, `python scripts/write_demo_layers.py` rewrites it)."""
    assert layer_table.DEMO_TABLE.read_text(encoding="utf-8") == layer_table.record_text(layer_table.demo_record())
    assert layer_table.lookup("demo") == layer_table.live_table(demo)


def test_layers_for_demo_does_not_import_torch_and_prints_what_the_model_gives(demo):
    out, modules = _subprocess_layers(["--json"])
    assert not modules & {"torch", "open_clip", "numpy"}, modules
    assert json.loads(out) == _expected(demo)
    out, modules = _subprocess_layers([])
    assert not modules & {"torch", "open_clip"}
    art = _expected(demo)["article_layer"]
    assert out.splitlines() == [f"{li['id']:<40} {li['units']:>6} units  {li['kind']}"
                                + ("  <- the article's layer" if li["id"] == art else "")
                                for li in _expected(demo)["layers"]]


def test_demo_table_is_not_used_for_another_demo_config(tmp_path, monkeypatch):
    """The shipped table names the config it was made from: another config (a retrained demo) is loaded."""
    from core import config

    fake = tmp_path / "demo"
    fake.mkdir()
    (fake / "config.json").write_text((config.DEMO_MODEL_DIR / "config.json").read_text() + " ")
    (fake / "weights.safetensors").write_bytes(b"")
    monkeypatch.setattr(config, "DEMO_MODEL_DIR", fake)
    assert layer_table.lookup("demo") is None
    monkeypatch.undo()
    assert layer_table.lookup("demo") is not None


def test_a_remembered_table_answers_like_the_live_model(tiny_rn, tiny_file, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CLIP_EXPLORER_ARTIFACTS", str(tmp_path))
    monkeypatch.delenv("CLIP_EXPLORER_DEVICE", raising=False)
    model = tiny_file
    assert layer_table.lookup(model) is None
    code, live, _ = _layers(capsys, ["--model", model, "--json"])  # loads the model, writes the record
    assert code == 0 and json.loads(live) == _file_expected(tiny_rn, model)
    record = layer_table.record_path(model)
    assert record.is_file() and record.parent == tmp_path / "layers"
    assert layer_table.lookup(model) == layer_table.live_table(tiny_rn) | {"model": model}
    code, cached, _ = _layers(capsys, ["--model", model, "--json"])
    assert code == 0 and cached == live
    code, text, _ = _layers(capsys, ["--model", model])
    assert code == 0 and "<- the article's layer" in text


def test_another_architecture_config_or_hooks_source_makes_a_record_stale(tiny_rn, tiny_file, tmp_path, monkeypatch,
                                                                         capsys):
    monkeypatch.setenv("CLIP_EXPLORER_ARTIFACTS", str(tmp_path))
    model = tiny_file
    assert _layers(capsys, ["--model", model, "--json"])[0] == 0
    path = layer_table.record_path(model)
    record = json.loads(path.read_text())
    record["layers"][0]["units"] = 12345  # a table no live model gives, under a key that no longer holds:
    for change in ({"config": {**record["key"]["config"], "embed_dim": 17}}, {"hooks_sha256": "0" * 64},
                   {"open_clip": "0.0.0"}, {"schema": 0}):
        path.write_text(json.dumps(record | {"key": record["key"] | change}))
        assert layer_table.lookup(model) is None, change
        code, out, _ = _layers(capsys, ["--model", model, "--json"])
        assert code == 0 and json.loads(out) == _file_expected(tiny_rn, model), change
        assert json.loads(path.read_text())["layers"][0]["units"] != 12345  # rewritten from the live model


@pytest.mark.parametrize("text", ["", "{", "null", "[]", '{"schema": 1}', "\x00\xff garbage",
                                  '{"schema": 1, "key": {}, "model": "tiny-rn/random", "article_layer": "x", '
                                  '"layers": [{"id": "y"}]}'])
def test_a_corrupt_record_is_ignored_and_rewritten(tiny_rn, tiny_file, tmp_path, monkeypatch, capsys, text):
    monkeypatch.setenv("CLIP_EXPLORER_ARTIFACTS", str(tmp_path))
    model = tiny_file
    path = layer_table.record_path(model)
    path.parent.mkdir(parents=True)
    path.write_bytes(text.encode("latin-1"))
    assert layer_table.lookup(model) is None
    code, out, err = _layers(capsys, ["--model", model, "--json"])
    assert code == 0 and err == "" and json.loads(out) == _file_expected(tiny_rn, model)
    assert layer_table.lookup(model) == layer_table.live_table(tiny_rn) | {"model": model}


def test_a_checkpoint_file_is_remembered_only_while_it_is_the_same_file(tiny_rn, tmp_path, monkeypatch, capsys):
    """The weights are in the key: a replaced file is loaded again, and a bad one fails as it always did."""
    import torch

    monkeypatch.setenv("CLIP_EXPLORER_ARTIFACTS", str(tmp_path / "art"))
    ckpt = tmp_path / "tiny.pt"
    torch.save(tiny_rn.model.state_dict(), ckpt)
    args = ["--checkpoint", str(ckpt), "--arch", "tiny-rn", "--json"]
    code, live, _ = _layers(capsys, args)
    assert code == 0 and json.loads(live)["model"] == f"tiny-rn@{ckpt}"
    assert layer_table.lookup(f"tiny-rn@{ckpt}") is not None and _layers(capsys, args)[1] == live
    torch.save([torch.zeros(2)], ckpt)  # not a state dict any more
    assert layer_table.lookup(f"tiny-rn@{ckpt}") is None
    code, out, err = _layers(capsys, args)
    assert code == 2 and "not a state dict" in json.loads(out)["error"]
    ckpt.unlink()
    code, out, _ = _layers(capsys, args)
    assert code == 2 and "not found" in json.loads(out)["error"]


def test_an_unwritable_cache_folder_is_no_error(tiny_rn, tiny_file, tmp_path, monkeypatch, capsys):
    (tmp_path / "layers").write_text("a file where the folder would go")
    monkeypatch.setenv("CLIP_EXPLORER_ARTIFACTS", str(tmp_path))
    code, out, err = _layers(capsys, ["--model", tiny_file, "--json"])
    assert code == 0 and err == "" and json.loads(out) == _file_expected(tiny_rn, tiny_file)


def test_a_device_flag_takes_the_loading_path(capsys):
    """--device is checked against the machine by loading, as before (a shipped table does not skip it)."""
    code, _, err = _layers(capsys, ["--model", "demo", "--device", "gpu"])
    assert code == 2 and "--device must be" in err


def test_open_clip_configs_read_without_open_clip_are_its_own():
    """The torch-free config reader gives what open_clip's registry gives (quickgelu names included)."""
    import open_clip

    for arch in ("RN50x4", "RN50x4-quickgelu", "ViT-B-32", "ViT-S-32"):
        assert layer_table._config_file(arch) == open_clip.get_model_config(arch), arch
    base = layer_table._config_file("ViT-S-32")
    assert layer_table._config_file("ViT-S-32-quickgelu") is None  # no such file: derived from the base
    assert layer_table.arch_config("ViT-S-32-quickgelu") == {**base, "quick_gelu": True}
    assert layer_table._config_file("../x") is None and layer_table.arch_config("no-such-arch") is None


def test_a_real_architecture_is_answered_without_torch_the_first_time(tmp_path):
    """End to end in fresh interpreters: ``ViT-S-32/random`` and ``RN50/random`` (real open_clip architectures) are
    listed from their configs without importing torch, exactly as the loading path (``--device cpu``) lists them."""
    for model, article, count in (("ViT-S-32/random", "visual.transformer.resblocks.11.mlp.gelu", 24),
                                  ("RN50/random", "visual.layer4.2.act3@in", 32)):
        derived, modules = _subprocess_layers(["--model", model, "--json"], tmp_path)
        assert not modules & {"torch", "open_clip", "numpy"}, model
        loaded, modules = _subprocess_layers(["--model", model, "--json", "--device", "cpu"], tmp_path)
        assert "torch" in modules and derived == loaded, model
        table = json.loads(derived)
        assert table["article_layer"] == article and len(table["layers"]) == count


def test_a_pretrained_id_is_derived_only_where_its_weights_are_here(tmp_path, monkeypatch):
    """``ARCH/TAG``: listed from the config once its weights file is found (the weights folder); without it, the
    model is loaded, which names the path the file must go to."""
    monkeypatch.setenv("CLIP_EXPLORER_ARTIFACTS", str(tmp_path / "art"))
    monkeypatch.setenv("CLIP_EXPLORER_WEIGHTS", str(tmp_path / "weights"))
    assert layer_table.lookup("RN50x4/openai") is None
    (tmp_path / "weights" / "RN50x4").mkdir(parents=True)
    (tmp_path / "weights" / "RN50x4" / "openai.pt").write_bytes(b"weights")
    table = layer_table.lookup("RN50x4/openai")
    assert table is not None and table["article_layer"] == "visual.layer4.5.act3@in"
    assert {li["units"] for li in table["layers"] if li["id"].startswith("visual.layer4.")} == {2560}


def test_config_tables_are_what_the_built_models_give_for_every_open_clip_architecture():
    """``config_table`` against ``list_layers`` on every open_clip architecture with a ResNet or ViT image tower,
    built on the meta device (shapes only), the ``-quickgelu`` names included."""
    import open_clip
    import torch

    from core.model import hooks

    assert layer_table.INPUT_SUFFIX == hooks.INPUT_SUFFIX
    checked = []
    for arch in open_clip.list_models():
        cfg = open_clip.get_model_config(arch)
        derived = layer_table.config_table("x", cfg) if cfg else None
        if derived is None:
            continue
        try:
            with torch.device("meta"):
                model = open_clip.create_model(arch, pretrained=None, device="meta")
        except Exception:  # noqa: BLE001 - a text tower needing a package not installed here (the image tower's
            continue  # rule is checked on every other architecture of its kind)
        from dataclasses import asdict

        live = [asdict(li) for li in hooks.list_layers(model)]
        assert derived["layers"] == live, arch
        assert derived["article_layer"] == hooks.article_layer(model), arch
        checked.append(arch)
    assert {"RN50", "RN50x4", "RN50x64", "RN50-quickgelu", "ViT-B-32", "ViT-L-14", "ViT-bigG-14"} <= set(checked)
    assert len(checked) >= 40, checked


@pytest.fixture(scope="module")
def vit_files(tmp_path_factory) -> dict[str, Path]:
    """ViT-S-32 (seeded random weights) saved as safetensors, a torch.save zip, a wrapped zip
    (``{"state_dict": {"module.…": …}}``) and the legacy format; RN50's state dict beside them (another architecture)."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("vit_files")
    torch.manual_seed(0)
    state = open_clip.create_model("ViT-S-32", pretrained=None).state_dict()
    files = {name: folder / name for name in ("vit.safetensors", "vit.pt", "wrapped.pt", "legacy.pt", "rn50.pt")}
    save_file({k: v.contiguous() for k, v in state.items()}, files["vit.safetensors"])
    torch.save(state, files["vit.pt"])
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, files["wrapped.pt"])
    torch.save(state, files["legacy.pt"], _use_new_zipfile_serialization=False)
    torch.save(open_clip.create_model("RN50", pretrained=None).state_dict(), files["rn50.pt"])
    return files | {"shapes": {k: tuple(v.shape) for k, v in state.items()}}


def test_tensor_shapes_are_read_without_torch_where_the_format_allows(vit_files):
    from core.model.file_shapes import tensor_shapes

    for name in ("vit.safetensors", "vit.pt", "wrapped.pt"):
        assert tensor_shapes(vit_files[name]) == vit_files["shapes"], name
    assert tensor_shapes(vit_files["legacy.pt"]) is None  # torch's legacy format: torch reads it


def test_the_shape_reader_builds_nothing_but_shapes(tmp_path):
    """A zip whose pickle names anything but a state dict's few names is refused before anything is built."""
    import io
    import pickle
    import zipfile

    from core.model.file_shapes import tensor_shapes

    class Evil:
        def __reduce__(self):
            return (print, ("ran",))

    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("evil/data.pkl", pickle.dumps({"visual.conv1.weight": Evil()}))
        zf.writestr("evil/version", "3\n")
    out = io.StringIO()
    import contextlib

    with contextlib.redirect_stdout(out):
        assert tensor_shapes(path) is None
    assert out.getvalue() == ""
    (tmp_path / "junk.safetensors").write_bytes(b"\xff" * 64)
    assert tensor_shapes(tmp_path / "junk.safetensors") is None


def test_checkpoint_files_are_listed_without_torch_when_their_shapes_fit(vit_files, tmp_path, capsys):
    """safetensors and torch.save zips of ViT-S-32 in fresh interpreters: no torch, the loading path's exact output;
    the legacy format is loaded; a file of another architecture is loaded too, and fails in one line."""
    loaded, _ = _subprocess_layers(["--checkpoint", str(vit_files["vit.pt"]), "--arch", "ViT-S-32", "--json",
                                    "--device", "cpu"], tmp_path / "a")
    for name in ("vit.safetensors", "vit.pt", "wrapped.pt"):
        out, modules = _subprocess_layers(["--checkpoint", str(vit_files[name]), "--arch", "ViT-S-32", "--json"],
                                          tmp_path / "b")
        assert not modules & {"torch", "open_clip", "numpy"}, name
        assert json.loads(out) | {"model": ""} == json.loads(loaded) | {"model": ""}, name
    _, modules = _subprocess_layers(["--checkpoint", str(vit_files["legacy.pt"]), "--arch", "ViT-S-32", "--json"],
                                    tmp_path / "c")
    assert "torch" in modules
    code = main(["layers", "--checkpoint", str(vit_files["rn50.pt"]), "--arch", "ViT-S-32", "--json"])
    error = json.loads(capsys.readouterr().out)["error"]
    assert code == 2 and "does not match architecture ViT-S-32" in error and "RN50" in error

"""--device / CLIP_EXPLORER_DEVICE / --precision: validated with one-line errors, never a traceback."""
from __future__ import annotations

import json

import pytest
import torch

from core.cli import main
from core.config import get_settings
from core.errors import CoreError
from core.model import devices

NO_CUDA = not torch.cuda.is_available()


@pytest.mark.parametrize("value", ["gpu", "cuda:x", "CUDA:0:1", "", "tpu", "cuda:-1"])
def test_malformed_devices_are_refused_with_the_valid_forms(value):
    with pytest.raises(devices.DeviceUnavailableError, match="cpu, cuda, cuda:N"):
        devices.check_device(value or " ")


def test_cpu_is_always_fine_and_canonical():
    assert devices.check_device(" CPU ") == "cpu" and devices.check_device(None) == "cpu"
    assert issubclass(devices.DeviceUnavailableError, CoreError)


@pytest.mark.skipif(not NO_CUDA, reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_a_one_line_error():
    with pytest.raises(devices.DeviceUnavailableError, match="--device cuda.*use --device cpu"):
        devices.check_device("cuda")


@pytest.mark.skipif(NO_CUDA, reason="needs CUDA")
def test_cuda_index_past_the_last_gpu():
    with pytest.raises(devices.DeviceUnavailableError, match="CUDA GPU"):
        devices.check_device(f"cuda:{torch.cuda.device_count()}")


def test_environment_device_is_checked_like_the_flag(monkeypatch):
    monkeypatch.setenv("CLIP_EXPLORER_DEVICE", "gpu0")
    with pytest.raises(devices.DeviceUnavailableError, match="CLIP_EXPLORER_DEVICE must be"):
        get_settings()
    monkeypatch.setenv("CLIP_EXPLORER_DEVICE", "Cpu")
    assert get_settings().device == "cpu"
    monkeypatch.delenv("CLIP_EXPLORER_DEVICE")
    assert get_settings().device == "cpu"


@pytest.mark.skipif(not NO_CUDA, reason="needs a machine without CUDA")
def test_environment_cuda_without_a_gpu(monkeypatch):
    monkeypatch.setenv("CLIP_EXPLORER_DEVICE", "cuda")
    with pytest.raises(devices.DeviceUnavailableError, match="CLIP_EXPLORER_DEVICE cuda"):
        get_settings()


def test_precision_setting(monkeypatch):
    monkeypatch.setenv("CLIP_EXPLORER_PRECISION", "half")
    with pytest.raises(CoreError, match="CLIP_EXPLORER_PRECISION must be one of"):
        get_settings()
    monkeypatch.setenv("CLIP_EXPLORER_PRECISION", "BF16")
    assert get_settings().precision == "bf16"


@pytest.mark.parametrize("setting, device, expected", [
    ("auto", "cpu", "fp32"), ("auto", "cuda", "fp16"), ("auto", "cuda:1", "fp16"), ("amp", "cuda", "fp16"),
    ("amp", "cpu", "bf16"), ("fp32", "cuda", "fp32"), ("bf16", "cuda", "bf16"), (None, torch.device("cpu"), "fp32"),
])
def test_resolve_precision(setting, device, expected):
    assert devices.resolve_precision(setting, device) == expected


def test_autocast_bf16_on_cpu_runs_matmuls_in_bf16():
    x = torch.randn(4, 4)
    with devices.autocast("cpu", "bf16"):
        assert (x @ x).dtype == torch.bfloat16
    with devices.autocast("cpu", "fp32"):
        assert (x @ x).dtype == torch.float32


@pytest.mark.parametrize("command", ["layers", "neurons", "index", "render", "stroop", "words", "intervene"])
def test_every_model_command_has_device_and_precision(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert "--device" in out and "--precision" in out


def test_bad_device_flag_is_one_line_exit_2(capsys):
    code = main(["layers", "--model", "demo", "--device", "gpu"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--device must be cpu, cuda, cuda:N" in err


@pytest.mark.skipif(not NO_CUDA, reason="needs a machine without CUDA")
def test_cuda_flag_without_a_gpu_is_one_line_exit_2(capsys):
    code = main(["layers", "--model", "demo", "--device", "cuda"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err and "--device cuda" in err
    code = main(["layers", "--model", "demo", "--device", "cuda", "--json"])  # --json: the error as JSON on stdout
    out = capsys.readouterr().out
    assert code == 2 and "--device cuda" in json.loads(out)["error"]


def test_device_flag_reaches_the_model(monkeypatch):
    import core.model.loading

    seen = {}

    def fake_load(model_id=None, *, device=None):
        seen["device"] = device
        raise CoreError("stop here")

    monkeypatch.setattr(core.model.loading, "load_model", fake_load)
    monkeypatch.setenv("CLIP_EXPLORER_PRECISION", "auto")  # restored afterwards: --precision sets it
    assert main(["layers", "--model", "demo", "--device", "CPU", "--precision", "bf16"]) == 2
    assert seen["device"] == "cpu" and get_settings().precision == "bf16"


def test_index_records_the_precision_flag(tiny_rn, image_folder, tmp_path, capsys, monkeypatch):
    import json

    monkeypatch.setenv("CLIP_EXPLORER_PRECISION", "auto")
    args = ["index", "--model", "tiny-rn/random", "--images", str(image_folder), "--out", str(tmp_path / "a"),
            "--workers", "0", "--no-progress", "--json"]
    assert main(args + ["--precision", "bf16"]) == 0
    assert json.loads(capsys.readouterr().out)["precision"] == "bf16"
    assert main(args + ["--precision", "fp32"]) == 2  # the bf16 artifact is not passed off as float32
    assert "in bf16" in json.loads(capsys.readouterr().out)["error"]  # --json: the error on stdout


def test_gpu_decoding_without_cuda_is_one_line(tiny_rn, image_folder, tmp_path, capsys):
    code = main(["index", "--model", "tiny-rn/random", "--images", str(image_folder), "--out", str(tmp_path / "b"),
                 "--decode", "gpu", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--decode gpu needs" in err


def test_float32_on_cuda_means_no_tf32_inside_and_the_flags_come_back():
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    with devices.autocast("cuda:0", "fp32"):  # only flags: runs without a GPU
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == before


def test_load_model_checks_the_device_before_building(monkeypatch):
    """A Python caller asking for CUDA on a machine without it gets the one-line error, not torch's."""
    import torch

    from core.model.devices import DeviceUnavailableError
    from core.model.loading import load_model

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(DeviceUnavailableError, match="cuda"):
        load_model("demo", device="cuda")
    monkeypatch.setenv("CLIP_EXPLORER_DEVICE", "cuda:0")
    with pytest.raises(DeviceUnavailableError, match="CLIP_EXPLORER_DEVICE"):
        load_model("demo")

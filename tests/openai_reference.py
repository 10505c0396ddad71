"""OpenAI's own CLIP code (PyPI ``openai-clip`` 1.0.1) as an independent reference, and real checkpoint files.

The package's ``clip/__init__.py`` imports ``pkg_resources`` (gone from recent setuptools), so its three modules
(``model.py``, ``simple_tokenizer.py``, ``clip.py``) are loaded directly from the installed package folder into a
private package ``openai_clip_ref``; ``clip.py`` only uses ``pkg_resources.packaging`` for a version warning, which
the real ``packaging`` package provides during that one import.

Checkpoints are made the way each format is made:
    - OpenAI's TorchScript archive: OpenAI's ``CLIP`` module (random weights, BatchNorm statistics and affine
      randomised), converted with OpenAI's ``convert_weights`` (fp16 convolutions, linears, attention and
      projections, as released), the ``input_resolution``/``context_length``/``vocab_size`` tensors the released
      archives carry, traced with ``torch.jit.trace_module`` (``forward``, ``encode_image``, ``encode_text``)
      and written with ``torch.jit.save``;
    - a plain state dict: ``torch.save(state_dict)``; safetensors: ``safetensors.torch.save_file``.
"""
from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import torch
from torch import nn

REF_PACKAGE = "openai_clip_ref"

# OpenAI's hyper-parameters (clip/model.py's CLIP(...) arguments) of the two architectures tested at full size.
ARCHS = {
    "RN50x4": dict(embed_dim=640, image_resolution=288, vision_layers=(4, 6, 10, 6), vision_width=80,
                   vision_patch_size=None, context_length=77, vocab_size=49408, transformer_width=640,
                   transformer_heads=10, transformer_layers=12),
    "ViT-B-32": dict(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768, vision_patch_size=32,
                     context_length=77, vocab_size=49408, transformer_width=512, transformer_heads=8,
                     transformer_layers=12),
    # tests/conftest.py's tiny-rn in OpenAI's terms (fast format and error tests)
    "tiny-rn": dict(embed_dim=16, image_resolution=64, vision_layers=(1, 1, 1, 1), vision_width=8,
                    vision_patch_size=None, context_length=16, vocab_size=49408, transformer_width=32,
                    transformer_heads=2, transformer_layers=1),
}


def reference() -> types.ModuleType:
    """The private package with ``model``, ``simple_tokenizer`` and ``clip`` (OpenAI's files, unmodified)."""
    if REF_PACKAGE in sys.modules:
        return sys.modules[REF_PACKAGE]
    spec = importlib.util.find_spec("clip")  # finds the installed package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("openai-clip is not installed: pip install openai-clip==1.0.1 (see requirements.txt)")
    folder = Path(next(iter(spec.submodule_search_locations)))
    pkg = types.ModuleType(REF_PACKAGE)
    pkg.__path__ = [str(folder)]
    sys.modules[REF_PACKAGE] = pkg
    shim = None
    if importlib.util.find_spec("pkg_resources") is None:

        shim = types.ModuleType("pkg_resources")
        shim.packaging = importlib.import_module("packaging")
        importlib.import_module("packaging.version")
        sys.modules["pkg_resources"] = shim
    try:
        for name in ("model", "simple_tokenizer", "clip"):
            sub = importlib.util.spec_from_file_location(f"{REF_PACKAGE}.{name}", folder / f"{name}.py")
            mod = importlib.util.module_from_spec(sub)
            sys.modules[sub.name] = mod
            sub.loader.exec_module(mod)
            setattr(pkg, name, mod)
    finally:
        if shim is not None:
            sys.modules.pop("pkg_resources", None)
    return pkg


def randomize_batchnorm(model: nn.Module, seed: int = 1) -> None:
    """Random running statistics and affine parameters for every BatchNorm (OpenAI's init zeroes ``bn3.weight``
    and leaves mean 0 / var 1, which would hide eval-mode or folding mistakes)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) * 0.8 + 0.4)
                m.bias.copy_(torch.randn(n, generator=g) * 0.1)


def make_openai_model(arch: str, seed: int = 0) -> nn.Module:
    """OpenAI's ``CLIP`` module for ``arch`` with random weights, in the fp16 layout of the released files."""
    ref = reference()
    torch.manual_seed(seed)
    model = ref.model.CLIP(**ARCHS[arch])
    randomize_batchnorm(model, seed + 1)
    with torch.no_grad():  # a logit scale other than the init value, so a dropped or reset one shows
        model.logit_scale.fill_(4.2)
    ref.model.convert_weights(model)
    args = ARCHS[arch]
    for key in ("input_resolution", "context_length", "vocab_size"):  # tensors the released archives carry
        if key in model.__dict__:
            delattr(model, key)  # a plain int attribute of OpenAI's module; the archives hold it as a tensor
        model.register_buffer(key, torch.tensor(args["image_resolution" if key == "input_resolution" else key]))
    return model.eval()


def save_torchscript(model: nn.Module, path: Path, arch: str) -> Path:
    """Trace OpenAI's module as the released archives were (fp16 weights, three methods) and ``torch.jit.save``."""
    args = ARCHS[arch]
    image = torch.zeros(1, 3, args["image_resolution"], args["image_resolution"])
    text = torch.zeros(1, args["context_length"], dtype=torch.long)
    with torch.no_grad():
        traced = torch.jit.trace_module(model, {"forward": (image, text), "encode_image": (image,),
                                                "encode_text": (text,)}, check_trace=False)
    torch.jit.save(traced, str(path))
    return path


def reference_from_state_dict(state: dict) -> nn.Module:
    """OpenAI's ``build_model`` on a state dict (e.g. an archive's), in float32 for exact comparisons."""
    return reference().model.build_model({k: v.clone() for k, v in state.items()}).float().eval()

"""Feeding a GPU: uint8 batches normalised on the device, and JPEG decoding there (``--decode gpu``).

With the model on CUDA, DataLoader workers hand over (3, S, S) uint8 crops (``resize_crop_uint8``: PIL's
resize and centre crop, as the model's own preprocess) and the GPU does ``/255`` and the normalisation
(``normalize``): the same float32 values as the CPU path (tested bit for bit), a quarter of the bytes through
shared memory and PCIe.

``--decode gpu`` goes further, for GPUs that PIL cannot feed.

The DataLoader workers then only read each file's header (format, mode, size: the same checks as
``core.pipeline.images.open_image``) and its bytes; the main process decodes a whole batch with
``torchvision.io.decode_jpeg(device='cuda')`` (nvJPEG, EXIF orientation applied) and runs the model's eval
transform on the GPU: shortest side to S with bicubic + antialias (``torchvision.transforms.v2``, rounded to
uint8 as PIL does), centre crop S x S, /255, normalise. Files this path does not take (PNG, CMYK or 16-bit
JPEGs, anything nvJPEG refuses) go through the PIL path, in the worker or, after a failed GPU decode, here.

Tolerance against the PIL path. On CPU tensors (libjpeg both sides: ``tests/unit/test_fast_decode.py`` runs
this very code) the resize differs from PIL's by at most one uint8 level (0.015 normalised). nvJPEG's IDCT and
chroma upsampling differ from libjpeg's too, by an amount no GPU has measured for this project yet: the GPU
test asserts max <= ``TOLERANCE`` and mean <= ``MEAN_TOLERANCE`` (normalised units), and
``benchmarks/bench_extract.py --device cuda`` prints the measured figures. Results are therefore close to, not
byte-identical with, ``--decode cpu``; the plan records the decoder so such artifacts are told apart and never
mixed on resume.
"""
from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from core.config import MAX_IMAGE_PIXELS

if TYPE_CHECKING:
    from core.model.loading import LoadedModel

logger = logging.getLogger(__name__)

TOLERANCE = 0.25  # max abs difference to the PIL path, normalised units (~17 uint8 levels: chroma edges)
MEAN_TOLERANCE = 0.01  # mean abs difference (< 1 uint8 level)
DESCRIPTION = "torchvision.io.decode_jpeg on the device; v2 resize bicubic antialias, uint8 rounding"


def standard_transform(loaded: LoadedModel) -> dict | None:
    """The parameters of ``loaded``'s eval transform if it is the plain Resize(shortest side, bicubic,
    antialias) -> CenterCrop -> to tensor -> Normalize chain this module reproduces, else ``None``."""
    from torchvision import transforms as T

    tf = getattr(getattr(loaded, "preprocess", None), "transform", None)
    steps = list(getattr(tf, "transforms", []))
    names = [type(s).__name__ for s in steps]
    names = [n for n in names if n != "MaybeConvertMode"]  # RGB conversion: the decoder already gives RGB
    if names not in (["Resize", "CenterCrop", "MaybeToTensor", "Normalize"],
                     ["Resize", "CenterCrop", "ToTensor", "Normalize"]):
        return None
    resize, crop, norm = steps[0], steps[1], steps[-1]
    size = resize.size[0] if isinstance(resize.size, (list, tuple)) and len(resize.size) == 1 else resize.size
    crop_size = tuple(crop.size)
    if (not isinstance(size, int) or resize.interpolation != T.InterpolationMode.BICUBIC or resize.max_size
            or resize.antialias is False or crop_size[0] != crop_size[1]):
        return None
    return {"resize": int(size), "crop": int(crop_size[0]), "mean": [float(m) for m in norm.mean],
            "std": [float(s) for s in norm.std]}


def available(device) -> bool:
    """nvJPEG decoding on ``device`` (a CUDA device with a torchvision that decodes there)."""
    dev = torch.device(device)
    if dev.type != "cuda" or not torch.cuda.is_available():
        return False
    try:
        from torchvision.io import decode_jpeg  # noqa: F401
    except ImportError:
        return False
    return True


def jpeg_bytes(path: Path, max_pixels: int = MAX_IMAGE_PIXELS) -> torch.Tensor | None:
    """The file's bytes as a uint8 tensor if it is a complete 8-bit RGB or grey JPEG within ``max_pixels``, else
    ``None`` (the caller then takes the PIL path, which also names what is wrong with a bad file: nvJPEG may
    decode a truncated file without complaint, so files without the end-of-image marker go to PIL)."""
    from PIL import Image

    try:
        with Image.open(path) as im:  # the header only
            if im.format != "JPEG" or im.mode not in ("RGB", "L") or im.size[0] * im.size[1] > max_pixels:
                return None
        data = Path(path).read_bytes()
    except Exception:  # unreadable or not an image: the PIL path says which
        return None
    if not data.rstrip(b"\0 \r\n")[-2:] == b"\xff\xd9":  # no end-of-image marker: truncated? PIL says
        return None
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


def decode(datas: list[torch.Tensor], device) -> list[torch.Tensor | None]:
    """Decode JPEG byte tensors on ``device`` into (3, H, W) uint8; ``None`` for each one the decoder refused.
    One batched call first; if it fails, one call per image to find the bad ones."""
    from torchvision.io import ImageReadMode, decode_jpeg

    if not datas:
        return []
    kwargs = {"mode": ImageReadMode.RGB, "device": device, "apply_exif_orientation": True}
    with warnings.catch_warnings():  # torchvision 0.29 deprecates its decoders in favour of TorchCodec; still shipped
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return list(decode_jpeg(list(datas), **kwargs))
        except Exception as err:  # a bad file in the batch: find it
            logger.debug("batched JPEG decode failed (%s); decoding one by one", err)
        out: list[torch.Tensor | None] = []
        for d in datas:
            try:
                out.append(decode_jpeg(d, **kwargs))
            except Exception:
                out.append(None)
    return out


def resize_crop_uint8(loaded: LoadedModel) -> "ResizeCropUint8":
    """``PIL image -> (3, S, S) uint8``: the PIL half of ``loaded``'s standard eval transform (transparency on
    white, resize, centre crop), for DataLoader workers feeding a GPU; ``normalize`` there does the rest. A quarter
    of the float32 batch's bytes through shared memory and the PCIe bus, and the same values (the tensor half is
    exact IEEE arithmetic on either device)."""
    from torchvision import transforms as T

    return ResizeCropUint8(T.Compose(list(loaded.preprocess.transform.transforms[:2])))  # Resize, CenterCrop


class ResizeCropUint8:
    """Picklable (DataLoader workers under any start method)."""

    def __init__(self, steps):
        self.steps = steps

    def __call__(self, img) -> torch.Tensor:
        import numpy as np

        from core.pipeline.images import to_rgb_on_white

        arr = np.array(self.steps(to_rgb_on_white(img)), dtype=np.uint8)  # (S, S, 3), a writable copy
        return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def normalize(x: torch.Tensor, spec: dict) -> torch.Tensor:
    """(B, 3, S, S) uint8 -> float32 on its device: ``/255`` then ``(x - mean) / std``, the same operations as
    torchvision's ``to_tensor`` and ``Normalize``."""
    x = x.float().div_(255)
    mean = torch.as_tensor(spec["mean"], dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    std = torch.as_tensor(spec["std"], dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    return x.sub_(mean).div_(std)


def preprocess(images: list[torch.Tensor], spec: dict) -> torch.Tensor:
    """(3, H, W) uint8 images (any device) -> (B, 3, S, S) float32 on that device, the eval transform of
    ``spec`` (``standard_transform``)."""
    from torchvision.transforms.v2 import functional as TF

    out = []
    for img in images:
        x = TF.resize(img, [spec["resize"]], interpolation=TF.InterpolationMode.BICUBIC, antialias=True)
        out.append(TF.center_crop(x, [spec["crop"], spec["crop"]]))
    return normalize(torch.stack(out), spec)

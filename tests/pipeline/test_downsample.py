"""Stage 4: aspect-correct crop (never a stretch) and Lanczos to the exact size."""

from __future__ import annotations

import numpy as np
import pytest

from wallpaperd.pipeline.stages import downsample, linear_to_srgb, srgb_to_linear


def striped(width: int, height: int) -> np.ndarray:
    """Left third red, middle green, right blue: shows which part survives the crop."""
    picture = np.zeros((height, width, 3), np.float32)
    third = width // 3
    picture[:, :third, 0] = 1
    picture[:, third:2 * third, 1] = 1
    picture[:, 2 * third:, 2] = 1
    return picture


def test_exact_target_size_from_the_seed_shape():
    out, info = downsample(striped(960, 512), 640, 360, "center", False)
    assert out.shape == (360, 640, 3) and out.dtype == np.float32
    x0, y0, x1, y1 = info["crop_box"]
    assert (x1 - x0) / (y1 - y0) == pytest.approx(16 / 9, abs=1e-3)  # exact aspect, no stretch
    assert y0 == 0 and y1 == 512 and x0 == pytest.approx(960 - x1, abs=0.01)


def test_circle_stays_round():
    """A circle in the 15:8 picture is still a circle after going to 16:9."""
    h, w = 512, 960
    yy, xx = np.mgrid[:h, :w]
    disc = (((xx - w / 2) ** 2 + (yy - h / 2) ** 2) < 150**2).astype(np.float32)
    out, _ = downsample(np.repeat(disc[:, :, None], 3, 2), 640, 360, "center", False)
    mask = out[:, :, 0] > 0.5
    rows, cols = np.nonzero(mask)
    assert (cols.max() - cols.min()) == pytest.approx(rows.max() - rows.min(), abs=2)


@pytest.mark.parametrize("gravity, kept, lost", [("left", 0, 2), ("right", 2, 0)])
def test_gravity_chooses_which_side_survives(gravity, kept, lost):
    # A tall-ish 4:3 picture cropped to 16:9 loses rows; a 21:9 one loses columns.
    out, _ = downsample(striped(2100, 900), 320, 180, gravity, False)
    edge = out[:, 0] if gravity == "left" else out[:, -1]
    assert edge[:, kept].mean() > 0.9
    assert out[:, :, lost].mean() < 0.25


def test_lanczos_overshoot_is_clipped_to_the_valid_range():
    rng = np.random.default_rng(3)
    picture = rng.random((512, 960, 3)).astype(np.float32)
    out, _ = downsample(picture, 320, 180, "center", False)
    assert out.min() >= 0 and out.max() <= 1


def test_linear_light_round_trip_and_effect():
    x = np.linspace(0, 1, 101, dtype=np.float32)
    np.testing.assert_allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=1e-5)
    # Black/white stripes one pixel wide average to mid-grey in *linear* light,
    # which is brighter in sRGB values than the naive 0.5.
    picture = np.zeros((64, 128, 3), np.float32)
    picture[:, ::2] = 1.0
    naive, _ = downsample(picture, 32, 18, "center", False)
    linear, _ = downsample(picture, 32, 18, "center", True)
    assert naive.mean() == pytest.approx(0.5, abs=0.02)
    assert linear.mean() == pytest.approx(0.735, abs=0.02)

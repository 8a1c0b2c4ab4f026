"""Colour drift: measured on every job, corrected by the low-pass match within tolerance."""

from __future__ import annotations

import numpy as np
from skimage import data

from wallpaperd.pipeline.colour import TOLERANCE, drift, match_colours
from wallpaperd.pipeline.job import JobRequest


def photo() -> np.ndarray:
    return data.astronaut().astype(np.float32) / 255.0


def test_a_tone_shift_is_measured_and_removed_while_detail_stays():
    reference = photo()
    shifted = np.clip(reference * np.array([1.15, 1.0, 0.85], np.float32) + 0.03, 0, 1)
    assert drift(reference, shifted) > 5
    corrected, record = match_colours(reference, shifted)
    assert record["colour_drift"] > 5 and record["colour_drift_after_match"] < TOLERANCE
    # detail (the high band) is the shifted picture's, not the reference's blur
    high = lambda a: a - np.roll(a, 1, axis=1)  # noqa: E731
    assert np.abs(high(corrected) - high(shifted)).mean() < np.abs(high(shifted)).mean() * 0.2


def test_an_unchanged_picture_has_no_drift():
    assert drift(photo(), photo()) == 0.0


def test_every_job_records_the_drift_and_keeps_it_within_tolerance(tiny_pipeline):
    meta = tiny_pipeline.run(JobRequest(seed=2)).metadata["stages"]["enhance"]
    assert meta["colour_drift_after_match"] <= TOLERANCE
    assert meta["colour_drift"] >= meta["colour_drift_after_match"]

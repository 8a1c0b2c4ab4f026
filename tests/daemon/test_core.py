"""Daemon decisions that need no bus: which config changes reload the models."""

from __future__ import annotations

from wallpaperd.config import config_from_mapping
from wallpaperd.daemon.core import models_changed

from ..conftest import small_mapping


def test_only_model_settings_trigger_a_model_reload():
    base = config_from_mapping(small_mapping())
    assert not models_changed(base, config_from_mapping(small_mapping(enhance__strength=0.3)))
    assert not models_changed(base, config_from_mapping(small_mapping(generate__steps=20)))
    assert models_changed(base, config_from_mapping(small_mapping(generate__scheduler="EulerDiscreteScheduler")))
    assert models_changed(base, config_from_mapping(small_mapping(upscale__precision="float16")))

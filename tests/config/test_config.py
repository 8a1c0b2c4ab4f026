"""The configuration: shipped defaults, layering, and an error for every kind of mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from wallpaperd.config import config_from_mapping, load_config
from wallpaperd.errors import ConfigError
from wallpaperd.paths import shipped_etc_dir

from ..conftest import small_mapping


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_shipped_defaults_are_the_seed_plans_numbers():
    cfg = load_config()
    g, u, e, d = cfg.generate, cfg.upscale, cfg.enhance, cfg.downsample
    assert (g.width, g.height, g.steps, g.guidance_scale) == (1920, 1024, 50, 7.5)
    assert g.scheduler == "DPMSolverMultistepScheduler" and g.dtype == "float16"
    assert (u.model, u.scale, u.precision) == ("realesrgan-x4plus", 4, "float32")
    assert (e.tile, e.overlap, e.strength, e.steps, e.guidance_scale) == (1024, 256, 0.35, 30, 7.5)
    assert e.method == "latent" and e.batch == "auto"
    assert (d.width, d.height, d.method, d.gravity) == (3840, 2160, "lanczos", "center")
    assert cfg.memory.vram_budget == 23
    assert g.negative_prompt  # a real negative prompt ships


def test_demo_config_keeps_the_seed_shapes():
    cfg = load_config(shipped_etc_dir() / "demo.yaml")
    g, u, e, d = cfg.generate, cfg.upscale, cfg.enhance, cfg.downsample
    assert cfg.model.source == "tiny"
    assert g.width * 8 == g.height * 15, "15:8 base like 1920x1024"
    assert u.scale == 4
    assert 0 < e.overlap < e.tile < g.height * u.scale
    assert d.width * 9 == d.height * 16, "16:9 final like 3840x2160"
    assert d.width < g.width * u.scale and d.height < g.height * u.scale  # a real reduction


def test_user_config_overrides_shipped_key_by_key(isolated_home):
    write(isolated_home / ".config/wallpaperd/wallpaperd.yaml", "enhance:\n  strength: 0.3\n")
    cfg = load_config()
    assert cfg.enhance.strength == 0.3
    assert cfg.enhance.tile == 1024  # untouched keys keep the shipped value


def test_explicit_config_replaces_the_user_file(isolated_home, tmp_path):
    write(isolated_home / ".config/wallpaperd/wallpaperd.yaml", "enhance:\n  strength: 0.3\n")
    explicit = write(tmp_path / "mine.yaml", "generate:\n  steps: 40\n")
    cfg = load_config(explicit)
    assert cfg.generate.steps == 40
    assert cfg.enhance.strength == 0.35


def test_unknown_key_names_file_key_and_valid_keys(tmp_path):
    bad = write(tmp_path / "bad.yaml", "enhance:\n  overlapp: 128\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    text = str(err.value)
    assert str(bad) in text and "enhance.overlapp" in text and "unknown key" in text
    assert "valid keys here:" in text and "overlap" in text


def test_unknown_section(tmp_path):
    bad = write(tmp_path / "bad.yaml", "enhancement:\n  tile: 512\n")
    with pytest.raises(ConfigError, match=r"enhancement = .*unknown key.*valid keys here: model"):
        load_config(bad)


def test_bad_value_names_value_and_fix(tmp_path):
    bad = write(tmp_path / "bad.yaml", "generate:\n  scheduler: DPM++\n  steps: many\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    assert len(err.value.problems) == 2  # every mistake at once
    text = str(err.value)
    assert "generate.scheduler = 'DPM++'" in text and "DPMSolverMultistepScheduler" in text
    assert "generate.steps = 'many'" in text and "fix:" in text


def test_error_names_the_file_that_set_the_key(isolated_home, tmp_path):
    write(isolated_home / ".config/wallpaperd/wallpaperd.yaml", "downsample:\n  gravity: middle\n")
    with pytest.raises(ConfigError) as err:
        load_config()
    assert "wallpaperd/wallpaperd.yaml: downsample.gravity = 'middle'" in str(err.value)
    assert str(isolated_home) in str(err.value)


def test_yaml_syntax_error_gives_the_line(tmp_path):
    bad = write(tmp_path / "bad.yaml", "generate:\n  steps: 40\n   cfg: 7\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: not valid YAML at line 3"):
        load_config(bad)


def test_top_level_must_be_a_mapping(tmp_path):
    bad = write(tmp_path / "bad.yaml", "- generate\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(bad)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    "overrides, key, phrase",
    [
        ({"enhance__overlap": 128, "enhance__tile": 128}, "enhance.overlap", "smaller than enhance.tile"),
        ({"generate__width": 121}, "generate.width", "divisible by 8"),
        ({"enhance__tile": 100}, "enhance.tile", "divisible by 8"),
        ({"enhance__tile": 1024}, "enhance.tile", "larger than the upscaled picture"),
        ({"enhance__steps": 2}, "enhance.steps", "no denoising step"),
        ({"downsample__width": 1920, "downsample__height": 1080}, "downsample.width", "only ever shrinks"),
        ({"upscale__tile": 32, "upscale__tile_overlap": 16}, "upscale.tile_overlap", "less than half"),
        ({"enhance__strength": 1.5}, "enhance.strength", "between"),
        ({"generate__steps": [60, 40]}, "generate.steps", "low <= high"),
        ({"memory__vram_budget": -1}, "memory.vram_budget", "greater than 0"),
        ({"model__device": "gpu"}, "model.device", "'auto', 'cpu', 'cuda'"),
    ],
)
def test_cross_checks_and_ranges(overrides, key, phrase):
    with pytest.raises(ConfigError) as err:
        config_from_mapping(small_mapping(**overrides), default_origin="test.yaml")
    text = str(err.value)
    assert f"test.yaml: {key} = " in text, text
    assert phrase in text, text
    assert "fix:" in text


def test_ranges_are_accepted():
    cfg = config_from_mapping(small_mapping(generate__steps=[4, 8], enhance__strength=[0.25, 0.45]))
    assert cfg.generate.steps == (4, 8)
    assert cfg.enhance.strength == (0.25, 0.45)


@pytest.mark.parametrize(
    "overrides, key, phrase",
    [
        ({"schedule__daily": "7am"}, "schedule.daily", "HH:MM"),
        ({"schedule__daily": "24:00"}, "schedule.daily", "HH:MM"),
        ({"schedule__interval": "6 hours"}, "schedule.interval", "'6h'"),
        ({"schedule__interval": "30s"}, "schedule.interval", "at least one minute"),
        ({"inbox__max_text_bytes": 0}, "inbox.max_text_bytes", "greater than 0"),
    ],
)
def test_daemon_sections(overrides, key, phrase):
    with pytest.raises(ConfigError) as err:
        config_from_mapping(small_mapping(**overrides), default_origin="test.yaml")
    assert f"test.yaml: {key} = " in str(err.value) and phrase in str(err.value)


def test_schedule_values_parse():
    from datetime import time, timedelta

    from wallpaperd.config.schema import parse_clock, parse_duration

    assert parse_clock("07:30") == time(7, 30) and parse_clock("7:05") == time(7, 5)
    assert parse_duration("6h") == timedelta(hours=6) and parse_duration("1d") == timedelta(days=1)

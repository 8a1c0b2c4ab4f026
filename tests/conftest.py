"""Shared fixtures: an isolated home, small configs, and the tiny pipeline loaded once.

Every test runs with ``HOME`` and the ``XDG_*`` variables pointing into its own temporary
folder, and with the Hugging Face hub offline: nothing is downloaded, nothing of the
developer's is read or written.
"""

from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path

# huggingface_hub reads its cache location once, at import: point it at an empty,
# private folder before anything imports it, so no test sees the developer's cache.
HF_HOME = Path(tempfile.mkdtemp(prefix="wallpaperd-test-hf-"))
os.environ["HF_HOME"] = str(HF_HOME)
os.environ.pop("HF_HUB_CACHE", None)
os.environ["HF_HUB_OFFLINE"] = "1"

import pytest

from wallpaperd.config import config_from_mapping

# The chain on small geometry with the seed's shapes: a 15:8 base, x4 with the real
# Real-ESRGAN weights, overlapping enhancement tiles (a 5x3 grid), a 16:9 final.
SMALL = {
    "model": {"source": "tiny", "device": "cpu"},
    "generate": {"width": 120, "height": 64, "dtype": "float32", "steps": 6,
                 "prompt": "a lighthouse on a cliff"},
    "upscale": {"tile": 64, "tile_overlap": 16},
    "enhance": {"tile": 128, "overlap": 32, "steps": 9, "strength": 0.35},
    "downsample": {"width": 320, "height": 180},
    "memory": {"attention_slicing": False, "vae_tiling": False},
}


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch, shared_cache):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var, sub in (("XDG_CONFIG_HOME", ".config"), ("XDG_STATE_HOME", ".local/state"),
                     ("XDG_DATA_HOME", ".local/share"), ("XDG_PICTURES_DIR", "Pictures")):
        monkeypatch.setenv(var, str(home / sub))
    # The converted upscaler weights are shared by all tests (a cache, as for a user).
    monkeypatch.setenv("XDG_CACHE_HOME", str(shared_cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("xdg-cache")


def small_mapping(**overrides) -> dict:
    data = copy.deepcopy(SMALL)
    for dotted, value in overrides.items():
        section, key = dotted.split("__")
        data.setdefault(section, {})[key] = value
    return data


@pytest.fixture
def small_config():
    return config_from_mapping(small_mapping())


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory):
    """The tiny SDXL + real Real-ESRGAN pipeline, loaded once for the session."""
    from wallpaperd.pipeline.job import Pipeline

    cache = tmp_path_factory.mktemp("pipeline-cache")
    data = small_mapping()
    data["paths"] = {"cache": str(cache)}
    return Pipeline(config_from_mapping(data))

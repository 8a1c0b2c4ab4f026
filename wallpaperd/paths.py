"""Where wallpaperd keeps things (XDG directories via platformdirs; all overridable)."""

from __future__ import annotations

from pathlib import Path

import platformdirs

APP = "wallpaperd"


def shipped_etc_dir() -> Path:
    """The shipped defaults: ``wallpaperd/etc`` in a wheel, the repo's ``etc/`` in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "etc", here.parent / "etc"):
        if (candidate / "wallpaperd.yaml").is_file():
            return candidate
    raise FileNotFoundError(
        f"the shipped configuration is missing (looked in {here / 'etc'} and {here.parent / 'etc'}); "
        "reinstall wallpaperd"
    )


def user_config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP))


def state_dir(override: str | None = None) -> Path:
    return _pick(override, platformdirs.user_state_dir(APP))


def cache_dir(override: str | None = None) -> Path:
    return _pick(override, platformdirs.user_cache_dir(APP))


def output_dir(override: str | None = None) -> Path:
    return _pick(override, str(Path(platformdirs.user_pictures_dir()) / APP))


def inbox_dir(override: str | None = None) -> Path:
    return _pick(override, str(Path(platformdirs.user_data_dir(APP)) / "inbox"))


def _pick(override: str | None, default: str) -> Path:
    return Path(override).expanduser() if override else Path(default)

"""Reading one file dropped into the inbox into a job request — or a reason to reject it.

Accepted:

- ``.txt``: the whole text is the prompt;
- ``.yaml`` / ``.yml``: ``prompt``, ``negative_prompt``, ``seed``, ``theme``, ``loras``
  and ``overrides`` (only the keys in ``ALLOWED_OVERRIDES``), nothing else;
- ``.png .jpg .jpeg .webp``: enhance that picture into a wallpaper (no generation).

Hostile input is rejected, never followed: symbolic links, oversize files, YAML with
anchors/aliases/tags (expansion bombs), unknown keys, pictures over the pixel limit or that do not decode.
"""

from __future__ import annotations

import copy
import os
import stat
from pathlib import Path
from typing import Any

import yaml
from PIL import Image, UnidentifiedImageError

from ..config import Config, config_from_mapping
from ..errors import ConfigError, WallpaperdError

TEXT_SUFFIXES = (".txt",)
YAML_SUFFIXES = (".yaml", ".yml")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
YAML_KEYS = ("prompt", "negative_prompt", "seed", "theme", "loras", "overrides")
ALLOWED_OVERRIDES = {
    "generate": ("steps", "guidance_scale", "scheduler"),
    "enhance": ("strength", "steps", "guidance_scale"),
    "downsample": ("gravity", "linear_light"),
}


class Rejection(WallpaperdError):
    """A dropped file that will not become a job; message and fix go to NAME.error.txt."""


def is_candidate(path: Path) -> bool:
    """Files the inbox looks at (hidden and partial-download names are left alone)."""
    name = path.name
    return not name.startswith(".") and not name.endswith((".part", ".tmp", ".crdownload", "~"))


def read_request(path: Path, cfg: Config) -> dict[str, Any]:
    """The job request for ``path`` (a file directly inside the inbox); Rejection otherwise."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise Rejection("it is a symbolic link; the inbox takes real files only",
                        fix="copy the file itself into the inbox")
    if not stat.S_ISREG(info.st_mode):
        raise Rejection("it is not a regular file", fix="drop .txt, .yaml or picture files")
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        check_picture(path, cfg.inbox.max_image_pixels)
        return {"image": str(path)}
    if suffix not in TEXT_SUFFIXES + YAML_SUFFIXES:
        raise Rejection(f"'{suffix or 'no extension'}' files are not understood",
                        fix="use .txt (a prompt), .yaml (prompt and options) or a picture "
                        f"({', '.join(IMAGE_SUFFIXES)})")
    if info.st_size > cfg.inbox.max_text_bytes:
        raise Rejection(f"it is {info.st_size} bytes; prompt files may be at most "
                        f"{cfg.inbox.max_text_bytes} (inbox.max_text_bytes)",
                        fix="shorten it")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejection(f"it is not UTF-8 text (byte {exc.start})", fix="save it as UTF-8") from exc
    if suffix in TEXT_SUFFIXES:
        prompt = text.strip()
        if not prompt:
            raise Rejection("the prompt file is empty", fix="write the prompt into it")
        return {"prompt": prompt}
    return _yaml_request(text, path, cfg)


def check_picture(path: Path, max_pixels: int) -> None:
    """Read the header for the size, then decode fully: unreadable or huge pictures fail."""
    try:
        with Image.open(path) as img:
            width, height = img.size
            if width * height > max_pixels:
                raise Rejection(f"the picture is {width}x{height} = {width * height} pixels; the "
                                f"limit is {max_pixels} (inbox.max_image_pixels)",
                                fix="scale it down first")
            img.load()
    except Rejection:
        raise
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, ValueError) as exc:
        raise Rejection(f"the picture cannot be read: {exc}",
                        fix="check that it is a complete PNG, JPEG or WebP") from exc


def _yaml_request(text: str, path: Path, cfg: Config) -> dict[str, Any]:
    try:
        for token in yaml.scan(text):
            if isinstance(token, (yaml.AnchorToken, yaml.AliasToken, yaml.TagToken)):
                raise Rejection("YAML anchors, aliases and tags are not accepted in prompt files",
                                fix="write every value out in full")
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise Rejection(f"not valid YAML{at}: {getattr(exc, 'problem', None) or exc}",
                        fix="check indentation and 'key: value' pairs") from exc
    if not isinstance(data, dict):
        raise Rejection("the YAML must be a mapping with at least 'prompt:'",
                        fix="write e.g. 'prompt: a misty forest at dawn'")
    unknown = sorted(set(map(str, data)) - set(YAML_KEYS))
    if unknown:
        raise Rejection(f"unknown key(s): {', '.join(unknown)}",
                        fix=f"use only: {', '.join(YAML_KEYS)}")
    request: dict[str, Any] = {}
    for key, out in (("prompt", "prompt"), ("negative_prompt", "negative"), ("theme", "theme")):
        if key in data and data[key] is not None:
            if not isinstance(data[key], str) or not data[key].strip():
                raise Rejection(f"'{key}' must be non-empty text", fix=f"write {key}: some words")
            request[out] = data[key].strip()
    if "seed" in data and data["seed"] is not None:
        seed = data["seed"]
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
            raise Rejection(f"'seed' must be a whole number from 0 to 2**63-1, got {seed!r}",
                            fix="write e.g. seed: 1234, or leave it out for a random one")
        request["seed"] = seed
    if data.get("loras"):
        raise Rejection("'loras' is not supported yet (LoRA stacks arrive with themes)",
                        fix="remove the loras key")
    if data.get("overrides") is not None:
        request["overrides"] = _overrides(data["overrides"], cfg)
    if "theme" in request:
        from ..planning.plan import library

        if request["theme"] not in library().themes():
            raise Rejection(f"unknown theme '{request['theme']}'",
                            fix="see `wallpaperctl themes` for the theme ids")
    if "prompt" not in request and "theme" not in request:
        raise Rejection("it has neither 'prompt' nor 'theme'", fix="add prompt: what to paint")
    return request


def _overrides(value: Any, cfg: Config) -> dict[str, Any]:
    allowed = ", ".join(f"{s}.{k}" for s, keys in ALLOWED_OVERRIDES.items() for k in keys)
    if not isinstance(value, dict):
        raise Rejection("'overrides' must be a mapping of sections", fix=f"allowed: {allowed}")
    for section, keys in value.items():
        if section not in ALLOWED_OVERRIDES or not isinstance(keys, dict) or \
                not set(map(str, keys)) <= set(ALLOWED_OVERRIDES[section]):
            raise Rejection(f"override '{section}' is not allowed in prompt files "
                            f"(keys {sorted(keys) if isinstance(keys, dict) else keys})",
                            fix=f"allowed: {allowed}")
    try:
        apply_overrides(cfg, value)
    except ConfigError as exc:
        raise Rejection(f"bad override: {'; '.join(exc.problems)}", fix=f"allowed: {allowed}") from exc
    return value


def apply_overrides(cfg: Config, overrides: dict[str, Any]) -> Config:
    """The config with a prompt file's (already allow-listed) overrides applied, validated."""
    data = copy.deepcopy(cfg.model_dump(mode="json"))
    for section, keys in overrides.items():
        data[section].update(keys)
    return config_from_mapping(data, default_origin="prompt file overrides")

"""Reading configuration: YAML layers → one strict ``Config``.

Layers, later ones winning key by key:

1. the shipped defaults, ``etc/wallpaperd.yaml``;
2. the user's ``$XDG_CONFIG_HOME/wallpaperd/wallpaperd.yaml``, if it exists;
3. ``--config PATH``, which takes the place of (2) when given.

Every leaf remembers the file that set it, so an error names the file a user must edit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic
import yaml

from ..errors import ConfigError
from ..paths import shipped_etc_dir, user_config_dir
from .checks import cross_check
from .schema import Config

CONFIG_NAME = "wallpaperd.yaml"


def load_config(path: str | Path | None = None) -> Config:
    """Load and validate the configuration; raise ConfigError listing every problem."""
    layers = [shipped_etc_dir() / CONFIG_NAME]
    if path is not None:
        explicit = Path(path).expanduser()
        if not explicit.is_file():
            raise ConfigError(
                [f"{explicit}: no such config file (given with --config). "
                 "fix: check the path, or leave --config out to use "
                 f"{user_config_dir() / CONFIG_NAME}"]
            )
        layers.append(explicit)
    else:
        user = user_config_dir() / CONFIG_NAME
        if user.is_file():
            layers.append(user)
    return config_from_files(layers)


def config_from_files(files: list[Path]) -> Config:
    merged: dict[str, Any] = {}
    origins: dict[tuple[str, ...], Path] = {}
    for file in files:
        _merge(merged, read_yaml(file), origins, file, ())
    return config_from_mapping(merged, origins, default_origin=files[-1])


def config_from_mapping(
    data: dict[str, Any],
    origins: dict[tuple[str, ...], Path] | None = None,
    default_origin: Path | str = "<config>",
) -> Config:
    """Validate an already-merged mapping; ``origins`` maps key paths to their files."""
    origins = origins or {}

    def where(loc: tuple) -> str:
        keys = tuple(str(k) for k in loc)
        while keys:
            if keys in origins:
                return str(origins[keys])
            keys = keys[:-1]
        return str(default_origin)

    try:
        cfg = Config.model_validate(data)
    except pydantic.ValidationError as exc:
        problems, seen_keys = [], set()
        for err in exc.errors():
            loc = tuple(k for k in err["loc"] if not isinstance(k, int) or k >= 0)
            # pydantic reports union members as extra loc parts ("int", "tuple[...]"); drop them
            key_loc = tuple(k for k in loc if isinstance(k, str) and "[" not in k
                            and k not in ("int", "float", "str", "bool", "literal", "function-after"))
            key = ".".join(key_loc) or "(top level)"
            if key in seen_keys:  # a union reports once per member; the first says enough
                continue
            seen_keys.add(key)
            problems.append(
                f"{where(key_loc)}: {key} = {_show(err.get('input'))}: {_message(err)}. "
                f"fix: {_fix(err, key_loc)}"
            )
        raise ConfigError(problems) from None

    problems = [
        f"{where(tuple(p.key.split('.')))}: {p.key} = {_show(p.value)}: {p.message}. fix: {p.fix}"
        for p in cross_check(cfg)
    ]
    if problems:
        raise ConfigError(problems)
    return cfg


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse one YAML file safely; it must hold a mapping (an empty file is an empty one)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the file ({exc.strerror}). fix: check that it "
                           "exists and is readable"]) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{path}: not valid YAML{at}: {problem}. fix: correct the syntax "
                           "(indentation with spaces, 'key: value' pairs)"]) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: the top level must be a mapping of sections (model:, "
                           f"generate:, ...), got {type(data).__name__}. fix: see etc/{CONFIG_NAME}"])
    return data


def _merge(into: dict, layer: dict, origins: dict, file: Path, prefix: tuple[str, ...]) -> None:
    for key, value in layer.items():
        path = prefix + (str(key),)
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value, origins, file, path)
        else:
            into[key] = value
            origins[path] = file
            if isinstance(value, dict):
                for sub in _leaf_paths(value, path):
                    origins[sub] = file


def _leaf_paths(value: dict, prefix: tuple[str, ...]):
    for key, sub in value.items():
        path = prefix + (str(key),)
        yield path
        if isinstance(sub, dict):
            yield from _leaf_paths(sub, path)


def _message(err: dict) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key"
    msg = err["msg"]
    return msg[len("Value error, "):] if msg.startswith("Value error, ") else msg


def _fix(err: dict, loc: tuple[str, ...]) -> str:
    if err["type"] == "extra_forbidden":
        parent = _section_fields(loc[:-1])
        if parent:
            return f"remove it or check the spelling; valid keys here: {', '.join(parent)}"
        return "remove it or check the spelling"
    if err["type"] == "literal_error":
        return "use one of the values listed"
    if err["type"] in ("int_parsing", "int_type", "int_from_float"):
        return "use a whole number"
    if err["type"] in ("float_parsing", "float_type"):
        return "use a number"
    if err["type"] in ("bool_parsing", "bool_type"):
        return "use true or false"
    if err["type"] in ("string_type",):
        return "use a text value (quote it if needed)"
    return "see the configuration reference in README.md"


def _section_fields(loc: tuple[str, ...]) -> list[str]:
    model: Any = Config
    for key in loc:
        field = getattr(model, "model_fields", {}).get(key)
        if field is None:
            return []
        model = field.annotation
    return list(getattr(model, "model_fields", {}))


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "{...}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def library_errors(exc: pydantic.ValidationError, sources: list[Path], fix: str) -> ConfigError:
    """A ConfigError for a themes/loras library file: file(s), key path, value, message, fix."""
    where = " or ".join(map(str, sources))
    return ConfigError([
        f"{where}: {'.'.join(map(str, e['loc']))} = {_show(e.get('input'))}: "
        f"{e['msg'].removeprefix('Value error, ')}. fix: {fix}" for e in exc.errors()])

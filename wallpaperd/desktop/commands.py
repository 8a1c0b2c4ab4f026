"""Compositors set through their own tools (sway, Hyprland), a user command, or nothing.

Commands are argv lists, never a shell: a picture path cannot inject anything.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any, Mapping

from ..config.schema import DesktopConfig
from ..errors import DesktopError

SWAY_MODES = {"zoom": "fill", "fill": "fill", "fit": "fit", "center": "center",
              "stretch": "stretch", "tile": "tile"}


def sway_argv(path: Path, mode: str) -> list[list[str]]:
    return [["swaymsg", "output", "*", "bg", str(path), SWAY_MODES[mode]]]


def hyprland_argv(path: Path) -> list[list[str]]:
    return [["hyprctl", "hyprpaper", "preload", str(path)],
            ["hyprctl", "hyprpaper", "wallpaper", f",{path}"]]


def command_argv(template: str, path: Path) -> list[list[str]]:
    return [[part.format(path=str(path), uri=path.as_uri()) for part in shlex.split(template)]]


def run_argvs(desktop: str, argvs: list[list[str]], env: Mapping[str, str]) -> dict[str, Any]:
    for argv in argvs:
        tool = shutil.which(argv[0], path=env.get("PATH"))
        if tool is None:
            raise DesktopError(f"{desktop}: '{argv[0]}' is not installed (or not on PATH)",
                               fix=f"install {argv[0]}, or set desktop.backend to match your desktop")
        result = subprocess.run([tool, *argv[1:]], env=dict(env), capture_output=True, text=True,
                                timeout=60)
        if result.returncode != 0:
            raise DesktopError(f"{desktop}: {shlex.join(argv)} exited with {result.returncode}: "
                               f"{(result.stderr or result.stdout).strip()}",
                               fix="run the same command by hand to see why")
    return {"method": "command", "commands": [shlex.join(a) for a in argvs]}


def set_sway(path: Path, cfg: DesktopConfig, env: Mapping[str, str]) -> dict[str, Any]:
    return {**run_argvs("sway", sway_argv(path, cfg.mode), env), "monitors": "all outputs (*)"}


def set_hyprland(path: Path, cfg: DesktopConfig, env: Mapping[str, str]) -> dict[str, Any]:
    return {**run_argvs("hyprland", hyprland_argv(path), env), "monitors": "all (empty monitor name)"}


def set_command(path: Path, cfg: DesktopConfig, env: Mapping[str, str]) -> dict[str, Any]:
    return run_argvs("command", command_argv(cfg.command or "", path), env)


def set_none(path: Path, cfg: DesktopConfig, env: Mapping[str, str]) -> dict[str, Any]:
    return {"method": "none", "note": "desktop.backend is none: the picture is only saved"}

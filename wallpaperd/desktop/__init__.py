"""Setting the wallpaper: one backend per desktop behind ``set_wallpaper``.

``set_wallpaper(path, cfg)`` picks the backend (``desktop.backend``, or detected from
``XDG_CURRENT_DESKTOP`` / ``DESKTOP_SESSION``), sets the picture on every monitor the
desktop knows, reads it back where the desktop allows (``desktop.verify``) and returns
what it did. Any failure is a ``DesktopError`` naming the desktop, the method, what came
back and the fix. ``wallpaperd generate``, ``wallpaperctl set`` and every daemon job end
here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from ..config.schema import DesktopConfig
from ..errors import DesktopError
from .backends import BACKENDS
from .detect import detect_backend


def set_wallpaper(path: Path, cfg: DesktopConfig, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Make ``path`` the desktop background; returns the backend's record of what it set."""
    env = dict(os.environ if env is None else env)
    path = Path(path).resolve()
    if not path.is_file():
        raise DesktopError(f"cannot set '{path}' as the wallpaper: no such file",
                           fix="check the path")
    name = detect_backend(env) if cfg.backend == "auto" else cfg.backend
    backend = BACKENDS[name]
    record = backend(path, cfg, env)
    return {"backend": name, **record}


__all__ = ["DesktopError", "set_wallpaper"]

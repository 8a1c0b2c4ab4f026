"""GNOME (and Ubuntu, Budgie), Cinnamon and MATE: their background keys through GSettings.

Why GSettings (the ``gsettings`` tool) and not raw dconf calls over D-Bus: GSettings checks
every key and value against the installed schema — a wrong key or type is an error, not a
silently ignored dconf path — and it writes through the same dconf D-Bus service GNOME's
own settings use, so the shell sees the change at once. Reading back goes the same way.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path
from typing import Any, Mapping

from ..config.schema import DesktopConfig
from ..errors import DesktopError

#: desktop.mode → the picture-options enum these desktops share.
OPTIONS = {"zoom": "zoom", "fill": "zoom", "fit": "scaled", "center": "centered",
           "stretch": "stretched", "tile": "wallpaper"}

# (schema, key, value kind) per desktop; kind "uri" = file URI, "path" = plain path.
KEYS = {
    "gnome": [("org.gnome.desktop.background", "picture-uri", "uri"),
              ("org.gnome.desktop.background", "picture-uri-dark", "uri"),
              ("org.gnome.desktop.background", "picture-options", "mode")],
    "cinnamon": [("org.cinnamon.desktop.background", "picture-uri", "uri"),
                 ("org.cinnamon.desktop.background", "picture-options", "mode")],
    "mate": [("org.mate.background", "picture-filename", "path"),
             ("org.mate.background", "picture-options", "mode")],
}
#: Cinnamon's and MATE's screensavers show the desktop background: no key of their own.
LOCK_KEYS = {
    "gnome": [("org.gnome.desktop.screensaver", "picture-uri", "uri")],
}


def set_with_gsettings(desktop: str, path: Path, cfg: DesktopConfig, env: Mapping[str, str]) -> dict[str, Any]:
    if not env.get("DBUS_SESSION_BUS_ADDRESS"):
        raise DesktopError(
            f"{desktop}: DBUS_SESSION_BUS_ADDRESS is not set; GSettings would write to a "
            "throw-away memory store and the desktop would never see it",
            fix="run `systemctl --user import-environment DBUS_SESSION_BUS_ADDRESS`")
    if cfg.lock_screen and desktop not in LOCK_KEYS:
        raise DesktopError(f"{desktop}: has no lock-screen picture setting",
                           fix="set desktop.lock_screen: false")
    values = {"uri": path.as_uri(), "path": str(path), "mode": OPTIONS[cfg.mode]}
    keys = KEYS[desktop] + (LOCK_KEYS[desktop] if cfg.lock_screen else [])
    written = {}
    for schema, key, kind in keys:
        _gsettings(desktop, env, "set", schema, key, gvariant_string(values[kind]))
        written[f"{schema} {key}"] = values[kind]
    if cfg.verify:
        for schema, key, kind in keys:
            got = _gsettings(desktop, env, "get", schema, key).strip()
            if parse_gvariant_string(got) != values[kind]:
                raise DesktopError(
                    f"{desktop}: gsettings set {schema} {key} did not take: it reads back {got}",
                    fix="check that dconf works in this session (`gsettings get "
                    f"{schema} {key}`) and that no policy locks the key")
    return {"method": "gsettings", "keys": written, "monitors": "all (one setting for every monitor)"}


def gvariant_string(text: str) -> str:
    """A GVariant text-format string literal (what `gsettings set` parses)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def parse_gvariant_string(text: str) -> str | None:
    """The value of a GVariant string literal as `gsettings get` prints it ('..' or "..")."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        try:
            value = ast.literal_eval(text)  # same escapes for the plain strings used here
        except (ValueError, SyntaxError):
            return None
        return value if isinstance(value, str) else None
    return None


def _gsettings(desktop: str, env: Mapping[str, str], *args: str) -> str:
    tool = shutil.which("gsettings", path=env.get("PATH"))
    if tool is None:
        raise DesktopError(f"{desktop}: the gsettings tool is not installed",
                           fix="install it (Debian/Ubuntu: libglib2.0-bin; Fedora: glib2)")
    result = subprocess.run([tool, *args], env=dict(env), capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        message = result.stderr.strip() or f"exit code {result.returncode}"
        missing = "No such schema" in message or "No schemas installed" in message
        fix = ("this desktop's settings schema is not installed: is this really "
               f"{desktop}? set desktop.backend to match" if missing else
               "run the same gsettings command by hand to see why")
        raise DesktopError(f"{desktop}: gsettings {' '.join(args[:3])} failed: {message}", fix=fix)
    return result.stdout

"""Which desktop are we on? ``XDG_CURRENT_DESKTOP`` first, then ``DESKTOP_SESSION``."""

from __future__ import annotations

from typing import Mapping

from ..errors import DesktopError

#: Names desktops put in XDG_CURRENT_DESKTOP (colon-separated) or DESKTOP_SESSION.
KNOWN = {
    "gnome": "gnome", "ubuntu": "gnome", "unity": "gnome", "budgie": "gnome", "pop": "gnome",
    "gnome-classic": "gnome", "gnome-flashback": "gnome",
    "kde": "kde", "plasma": "kde", "plasmawayland": "kde",
    "xfce": "xfce", "xubuntu": "xfce",
    "x-cinnamon": "cinnamon", "cinnamon": "cinnamon",
    "mate": "mate",
    "sway": "sway",
    "hyprland": "hyprland",
}


def detect_backend(env: Mapping[str, str]) -> str:
    current = env.get("XDG_CURRENT_DESKTOP", "")
    session = env.get("DESKTOP_SESSION", "")
    for name in [*current.split(":"), session.rsplit("/", 1)[-1]]:
        backend = KNOWN.get(name.strip().lower())
        if backend:
            return backend
    if env.get("SWAYSOCK"):
        return "sway"
    if env.get("HYPRLAND_INSTANCE_SIGNATURE"):
        return "hyprland"
    if not current and not session:
        raise DesktopError(
            "cannot tell which desktop this is: XDG_CURRENT_DESKTOP and DESKTOP_SESSION are not "
            "set (usual for a systemd user service started before the desktop exported them)",
            fix="run `systemctl --user import-environment XDG_CURRENT_DESKTOP DESKTOP_SESSION "
            "DISPLAY WAYLAND_DISPLAY DBUS_SESSION_BUS_ADDRESS` once per login, or set "
            "desktop.backend in the config")
    raise DesktopError(
        f"unknown desktop: XDG_CURRENT_DESKTOP={current!r}, DESKTOP_SESSION={session!r}",
        fix="set desktop.backend (gnome, kde, xfce, cinnamon, mate, sway, hyprland, portal, "
        "command or none)")

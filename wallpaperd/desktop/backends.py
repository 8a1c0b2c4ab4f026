"""The backend registry: ``desktop.backend`` name → function(path, cfg, env) → record."""

from __future__ import annotations

from functools import partial

from .commands import set_command, set_hyprland, set_none, set_sway
from .gsettings import set_with_gsettings
from .kde import set_kde
from .portal import set_portal
from .xfce import set_xfce

BACKENDS = {
    "gnome": partial(set_with_gsettings, "gnome"),
    "cinnamon": partial(set_with_gsettings, "cinnamon"),
    "mate": partial(set_with_gsettings, "mate"),
    "kde": set_kde,
    "xfce": set_xfce,
    "portal": set_portal,
    "sway": set_sway,
    "hyprland": set_hyprland,
    "command": set_command,
    "none": set_none,
}

"""XFCE: ``org.xfce.Xfconf`` over D-Bus, channel ``xfce4-desktop``.

Every ``/backdrop/.../last-image`` property (one per monitor and workspace) gets the
picture and its ``image-style``; when none exist yet (a fresh profile), they are created
for the connected monitors (``xrandr --listmonitors``; ``monitor0`` when that is not
available) on workspace 0. Each value is read back.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any, Mapping

from dbus_fast import Message, MessageType, Variant

from ..config.schema import DesktopConfig
from ..errors import DesktopError
from .bus import call, check_reply, run_on_bus

NAME, PATH, IFACE, CHANNEL = "org.xfce.Xfconf", "/org/xfce/Xfconf", "org.xfce.Xfconf", "xfce4-desktop"
#: desktop.mode → xfdesktop's image-style (5 = zoomed).
STYLES = {"zoom": 5, "fill": 5, "fit": 4, "center": 1, "stretch": 3, "tile": 2}


def set_xfce(path: Path, cfg: DesktopConfig, env: Mapping[str, str]) -> dict[str, Any]:
    if cfg.lock_screen:
        raise DesktopError("xfce: the lock screen has no picture setting wallpaperd can set",
                           fix="set desktop.lock_screen: false")

    async def work(bus) -> dict[str, Any]:
        props = await _existing(bus)
        keys = sorted(k for k in props if k.endswith("/last-image"))
        created = not keys
        if created:
            keys = [f"/backdrop/screen0/monitor{m}/workspace0/last-image" for m in monitors(env)]
        for key in keys:
            await call(bus, "xfce", NAME, PATH, IFACE, "SetProperty", "ssv",
                       [CHANNEL, key, Variant("s", str(path))])
            await call(bus, "xfce", NAME, PATH, IFACE, "SetProperty", "ssv",
                       [CHANNEL, key.removesuffix("last-image") + "image-style",
                        Variant("i", STYLES[cfg.mode])])
        if cfg.verify:
            for key in keys:
                (value,) = await call(bus, "xfce", NAME, PATH, IFACE, "GetProperty", "ss", [CHANNEL, key])
                if value.value != str(path):
                    raise DesktopError(f"xfce: {key} reads back {value.value!r} after SetProperty",
                                       fix="check xfconfd (xfconf-query -c xfce4-desktop -l)")
        return {"method": "xfconf", "properties": keys, "created": created,
                "monitors": sorted({k.split("/")[3] for k in keys})}

    return run_on_bus("xfce", env, work)


def monitors(env: Mapping[str, str]) -> list[str]:
    """Connected monitor names as xfdesktop spells them (connector names), or ['0']."""
    tool = shutil.which("xrandr", path=env.get("PATH"))
    if tool and env.get("DISPLAY"):
        result = subprocess.run([tool, "--listmonitors"], env=dict(env), capture_output=True,
                                text=True, timeout=10)
        names = [line.split()[-1] for line in result.stdout.splitlines()[1:] if line.strip()]
        if result.returncode == 0 and names:
            return names
    return ["0"]


async def _existing(bus) -> dict:
    """All properties under /backdrop; a fresh profile has none (xfconfd says PropertyNotFound)."""
    reply = await bus.call(Message(destination=NAME, path=PATH, interface=IFACE,
                                   member="GetAllProperties", signature="ss", body=[CHANNEL, "/backdrop"]))
    if reply.message_type == MessageType.ERROR and reply.error_name == "org.xfce.Xfconf.Error.PropertyNotFound":
        return {}
    return check_reply(reply, "xfce", NAME, IFACE, "GetAllProperties")[0]

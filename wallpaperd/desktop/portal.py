"""xdg-desktop-portal: ``org.freedesktop.portal.Wallpaper.SetWallpaperFile``.

The cross-desktop path where a portal backend implements it (GNOME, KDE and others). The
picture goes as an open file descriptor; the answer comes later as a ``Response`` signal
on a Request object: 0 done, 1 cancelled by the user, 2 failed. We subscribe to the
expected Request path before calling, as the portal documentation asks.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any, Mapping

from dbus_fast import Message, MessageType, Variant

from ..config.schema import DesktopConfig
from ..errors import DesktopError
from .bus import call, run_on_bus

NAME, PATH = "org.freedesktop.portal.Desktop", "/org/freedesktop/portal/desktop"
IFACE = "org.freedesktop.portal.Wallpaper"
RESPONSE_TIMEOUT = 120
ANSWERS = {1: "cancelled by the user", 2: "refused by the portal backend"}


def set_portal(path: Path, cfg: DesktopConfig, env: Mapping[str, str]) -> dict[str, Any]:
    async def work(bus) -> dict[str, Any]:
        token = "wallpaperd_" + uuid.uuid4().hex
        sender = bus.unique_name.lstrip(":").replace(".", "_")
        expected = f"{PATH}/request/{sender}/{token}"
        responses: dict[str, asyncio.Future] = {}
        loop = asyncio.get_running_loop()

        def on_message(message: Message) -> None:
            if message.message_type == MessageType.SIGNAL and message.member == "Response" and \
                    message.interface == "org.freedesktop.portal.Request":
                responses.setdefault(message.path, loop.create_future())
                if not responses[message.path].done():
                    responses[message.path].set_result(message.body)

        bus.add_message_handler(on_message)
        await call(bus, "portal", "org.freedesktop.DBus", "/org/freedesktop/DBus",
                   "org.freedesktop.DBus", "AddMatch", "s",
                   ["type='signal',interface='org.freedesktop.portal.Request',member='Response'"])
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            options = {"handle_token": Variant("s", token), "show-preview": Variant("b", False),
                       "set-on": Variant("s", "both" if cfg.lock_screen else "background")}
            (handle,) = await call(bus, "portal", NAME, PATH, IFACE, "SetWallpaperFile", "sha{sv}",
                                   ["", 0, options], unix_fds=[fd])
        finally:
            os.close(fd)
        future = responses.setdefault(handle, loop.create_future())
        try:
            code, _results = await asyncio.wait_for(future, RESPONSE_TIMEOUT)
        except asyncio.TimeoutError as exc:
            raise DesktopError(f"portal: no answer to SetWallpaperFile within {RESPONSE_TIMEOUT} s",
                               fix="check that xdg-desktop-portal and a backend for your desktop "
                               "run") from exc
        if code != 0:
            raise DesktopError(f"portal: SetWallpaperFile was {ANSWERS.get(code, f'answered {code}')}",
                               fix="accept the portal's dialog, or use your desktop's own backend "
                               "(desktop.backend)")
        return {"method": "SetWallpaperFile", "request": handle, "expected_request": expected,
                "set_on": options["set-on"].value, "monitors": "all (the portal decides)"}

    return run_on_bus("portal", env, work, unix_fds=True)

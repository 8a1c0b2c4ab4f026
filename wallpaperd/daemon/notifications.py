"""Desktop notifications (``org.freedesktop.Notifications``) when a job ends.

A finished job shows the picture (as icon and ``image-path`` hint); a failed one its
one-line reason. If no notification server answers, that is logged once and
notifications stay off until the daemon restarts: never fatal, never retried per job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import structlog
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

log = structlog.get_logger(__name__)

NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
NO_SERVER = ("org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner")


class DesktopNotifier:
    def __init__(self, bus: MessageBus, enabled: Callable[[], bool]) -> None:
        self.bus = bus
        self.enabled = enabled
        self.available = True

    async def job_finished(self, job_id: str, path: str) -> None:
        uri = Path(path).as_uri()
        await self._notify("New wallpaper", f"{Path(path).name}\njob {job_id}", path,
                           {"image-path": Variant("s", uri), "category": Variant("s", "transfer.complete"),
                            "urgency": Variant("y", 0)})

    async def job_failed(self, job_id: str, stage: str, error: str) -> None:
        where = f" at {stage}" if stage else ""
        await self._notify(f"Wallpaper job failed{where}", f"{error}\njob {job_id}",
                           "dialog-error", {"category": Variant("s", "transfer.error"),
                                            "urgency": Variant("y", 1)})

    async def _notify(self, summary: str, body: str, icon: str, hints: dict) -> None:
        if not (self.available and self.enabled()):
            return
        try:
            reply = await self.bus.call(Message(
                destination=NAME, path=PATH, interface=NAME, member="Notify", signature="susssasa{sv}i",
                body=["wallpaperd", 0, icon, summary, body, [], hints, -1]))
        except Exception as exc:  # the bus connection itself failed; never fatal for a job
            log.warning("desktop notification failed", error=str(exc))
            return
        if reply.message_type == MessageType.ERROR:
            if reply.error_name in NO_SERVER:
                self.available = False
                log.info("no desktop notification server on the session bus; notifications off")
            else:
                log.warning("desktop notification refused", error=reply.error_name,
                            detail=reply.body[0] if reply.body else "")

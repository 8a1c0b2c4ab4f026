"""A stand-in ``org.freedesktop.Notifications`` server on the tests' real session bus.

Real notification servers (dunst, xfce4-notifyd, GNOME Shell) need a display and cannot
run here; this one records what the daemon sends through the real bus.
"""

# No `from __future__ import annotations`: dbus-fast reads the signature strings below.

import asyncio
import threading

from dbus_fast.aio import MessageBus
from dbus_fast.service import ServiceInterface, dbus_method


class FakeNotifications(ServiceInterface):
    def __init__(self) -> None:
        super().__init__("org.freedesktop.Notifications")
        self.calls: list[dict] = []

    @dbus_method()
    def Notify(self, app_name: "s", replaces_id: "u", app_icon: "s", summary: "s", body: "s",
               actions: "as", hints: "a{sv}", expire_timeout: "i") -> "u":
        self.calls.append({"app": app_name, "icon": app_icon, "summary": summary, "body": body,
                           "hints": {k: v.value for k, v in hints.items()}})
        return len(self.calls)


class FakeNotificationServer:
    """Runs the fake server on its own thread and loop for the length of a test."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.service = FakeNotifications()
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Future | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "FakeNotifications":
        self._thread.start()
        assert self._ready.wait(10), "fake notification server did not start"
        return self.service

    def __exit__(self, *exc) -> None:
        self._loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        bus = await MessageBus(bus_address=self.address).connect()
        bus.export("/org/freedesktop/Notifications", self.service)
        await bus.request_name("org.freedesktop.Notifications")
        self._stop = asyncio.get_running_loop().create_future()
        self._ready.set()
        await self._stop
        bus.disconnect()

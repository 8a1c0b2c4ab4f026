"""Stand-ins for desktop services that cannot run here, on the tests' real session bus.

- ``FakePlasmaShell``: plasmashell needs a display and all of Plasma. This one takes the
  scripts wallpaperd sends to ``evaluateScript`` and runs them with Node.js against a stub
  of Plasma's scripting API (plasma_stub.js), so the test checks real JavaScript.
- ``FakePortal``: xdg-desktop-portal needs a desktop backend. This one reads the picture
  from the file descriptor it is given and answers through a Request object.
"""

# No `from __future__ import annotations`: dbus-fast reads the signature strings below.

import asyncio
import json
import os
import subprocess
import tempfile
import threading
from pathlib import Path

from dbus_fast import DBusError, Message
from dbus_fast.aio import MessageBus
from dbus_fast.service import ServiceInterface, dbus_method

STUB = Path(__file__).with_name("plasma_stub.js")


class FakePlasmaShell(ServiceInterface):
    def __init__(self, monitors: int) -> None:
        super().__init__("org.kde.PlasmaShell")
        self.state = Path(tempfile.mkdtemp()) / "plasma.json"
        self.state.write_text(json.dumps(
            {"desktops": [{"plugin": "org.kde.color", "config": {}} for _ in range(monitors)]}))
        self.scripts: list[str] = []

    @dbus_method()
    def evaluateScript(self, script: "s") -> "s":
        self.scripts.append(script)
        path = self.state.with_name(f"script{len(self.scripts)}.js")
        path.write_text(script)
        result = subprocess.run(["node", str(STUB), str(self.state), str(path)],
                                capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            raise DBusError("org.kde.plasmashell.Error", result.stderr.strip()[-500:])
        return result.stdout

    def desktops(self) -> list:
        return json.loads(self.state.read_text())["desktops"]


class FakePortal(ServiceInterface):
    def __init__(self, answer: int) -> None:
        super().__init__("org.freedesktop.portal.Wallpaper")
        self.answer = answer
        self.received: list[dict] = []
        self.bus = None

    @dbus_method()
    def SetWallpaperFile(self, parent_window: "s", fd: "h", options: "a{sv}") -> "o":
        with os.fdopen(os.dup(fd), "rb") as handle:
            content = handle.read()
        os.close(fd)
        opts = {k: v.value for k, v in options.items()}
        self.received.append({"parent": parent_window, "content": content, "options": opts})
        # dbus-fast does not tell a method its caller, so the Request path cannot carry the
        # sender's name as real portals do; clients must follow the returned handle anyway.
        request = f"/org/freedesktop/portal/desktop/request/fake/{opts['handle_token']}"
        asyncio.get_running_loop().call_later(0.05, self._respond, request)
        return request

    def _respond(self, request: str) -> None:
        self.bus.send(Message.new_signal(request, "org.freedesktop.portal.Request", "Response",
                                         "ua{sv}", [self.answer, {}]))


class ServiceThread:
    """Runs one fake service under a bus name on its own loop and thread."""

    def __init__(self, address: str, name: str, path: str, service: ServiceInterface) -> None:
        self.address, self.name, self.path, self.service = address, name, path, service
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._stop = None

    def __enter__(self):
        self._thread.start()
        assert self._ready.wait(10)
        return self.service

    def __exit__(self, *exc) -> None:
        self._loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        bus = await MessageBus(bus_address=self.address, negotiate_unix_fd=True).connect()
        self.service.bus = bus
        bus.export(self.path, self.service)
        await bus.request_name(self.name)
        self._stop = asyncio.get_running_loop().create_future()
        self._ready.set()
        await self._stop
        bus.disconnect()

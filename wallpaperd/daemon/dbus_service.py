"""The D-Bus face of the daemon: ``org.wallpaperd.Daemon1`` (names in protocol.py).

Thin: every method hands over to ``Daemon`` and translates its ``RequestError`` /
``ConfigError`` into named ``org.wallpaperd.Error.*`` replies; signals and property
changes come from the ``Events`` the daemon emits.
"""

# No `from __future__ import annotations`: dbus-fast reads the signature strings below.

import asyncio
from typing import Any

from dbus_fast import DBusError, Variant
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property, dbus_signal

from .. import protocol
from ..errors import ConfigError, DesktopError, RequestError
from .core import Daemon


def to_variants(data: dict) -> dict:
    """A plain dict (str, bool, int, float, nested dicts) as ``a{sv}``; None values dropped."""
    return {k: _variant(v) for k, v in data.items() if v is not None}


def _variant(value: Any) -> Variant:
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return Variant("aa{sv}", [to_variants(v) for v in value])
    if isinstance(value, list):
        return Variant("as", [str(v) for v in value])
    if isinstance(value, bool):
        return Variant("b", value)
    if isinstance(value, int):
        return Variant("x", value)
    if isinstance(value, float):
        return Variant("d", value)
    if isinstance(value, dict):
        return Variant("a{sv}", to_variants(value))
    return Variant("s", str(value))


class DaemonInterface(ServiceInterface):
    def __init__(self) -> None:
        super().__init__(protocol.INTERFACE)
        self.daemon: Daemon | None = None

    def _daemon(self) -> Daemon:
        if self.daemon is None:
            raise DBusError(protocol.ERR_NOT_READY, "the daemon is starting; try again")
        return self.daemon

    def _call(self, fn, *args):
        try:
            return fn(*args)
        except RequestError as exc:
            raise DBusError(exc.name, str(exc)) from None
        except ConfigError as exc:
            raise DBusError(protocol.ERR_CONFIG, str(exc)) from None

    # -- methods ------------------------------------------------------------------------

    @dbus_method()
    def Now(self, options: "a{sv}") -> "s":
        for key, value in options.items():
            expected = protocol.NOW_OPTIONS.get(key)
            if expected is not None and value.signature != expected and not (
                    expected == "t" and value.signature in "yqutnix"):
                raise DBusError(protocol.ERR_INVALID_ARGS,
                                f"option '{key}' must have D-Bus type '{expected}', got "
                                f"'{value.signature}'")
        return self._call(self._daemon().submit, {k: v.value for k, v in options.items()}, "dbus")

    @dbus_method()
    def Status(self) -> "a{sv}":
        return to_variants(self._daemon().status())

    @dbus_method()
    def ListJobs(self) -> "aa{sv}":
        return [to_variants(job.summary()) for job in self._daemon().queue.active()]

    @dbus_method()
    def History(self, limit: "u") -> "aa{sv}":
        if not 1 <= limit <= 10_000:
            raise DBusError(protocol.ERR_INVALID_ARGS, f"limit must be 1..10000, got {limit}")
        return [to_variants(job.summary()) for job in self._daemon().queue.history(limit)]

    @dbus_method()
    def Themes(self) -> "a{sv}":
        return to_variants(self._call(self._daemon().themes))

    @dbus_method()
    def Cancel(self, job_id: "s") -> None:
        self._call(self._daemon().cancel, job_id)

    @dbus_method()
    def Reload(self) -> "a{sv}":
        return to_variants(self._call(self._daemon().reload))

    @dbus_method()
    def Pause(self) -> None:
        self._daemon().pause()

    @dbus_method()
    def Resume(self) -> None:
        self._daemon().resume()

    @dbus_method()
    async def SetWallpaper(self, path: "s") -> "a{sv}":
        daemon = self._daemon()
        try:
            record = await asyncio.to_thread(daemon.set_wallpaper, path)
        except RequestError as exc:
            raise DBusError(exc.name, str(exc)) from None
        except DesktopError as exc:
            raise DBusError(protocol.ERR_DESKTOP, str(exc)) from None
        return to_variants({k: v if isinstance(v, (str, int, float, bool, dict)) else str(v)
                            for k, v in record.items()})

    # -- signals ------------------------------------------------------------------------

    @dbus_signal()
    def JobQueued(self, job_id, origin) -> "ss":
        return [job_id, origin]

    @dbus_signal()
    def JobProgress(self, job_id, stage, fraction, message) -> "ssds":
        return [job_id, stage, fraction, message]

    @dbus_signal()
    def JobFinished(self, job_id, path) -> "ss":
        return [job_id, path]

    @dbus_signal()
    def JobFailed(self, job_id, stage, error) -> "sss":
        return [job_id, stage, error]

    # -- properties ---------------------------------------------------------------------

    @dbus_property(access=PropertyAccess.READ)
    def State(self) -> "s":
        return self.daemon.state if self.daemon else protocol.LOADING

    @dbus_property(access=PropertyAccess.READ)
    def CurrentJob(self) -> "s":
        return self.daemon.progress.job_id if self.daemon else ""

    @dbus_property(access=PropertyAccess.READ)
    def QueueLength(self) -> "u":
        return self.daemon.queue.count(protocol.QUEUED) if self.daemon else 0


class SignalEvents:
    """``Events`` for the daemon: D-Bus signals and PropertiesChanged."""

    def __init__(self, interface: DaemonInterface, on_change=None, notifier=None) -> None:
        self.interface = interface
        self.on_change = on_change
        self.notifier = notifier
        self._last: dict = {}
        self._tasks: set = set()

    def job_queued(self, job_id: str, origin: str) -> None:
        self.interface.JobQueued(job_id, origin)

    def job_progress(self, job_id: str, stage: str, fraction: float, message: str) -> None:
        self.interface.JobProgress(job_id, stage, float(fraction), message)
        if self.on_change:
            self.on_change()

    def job_finished(self, job_id: str, path: str) -> None:
        self.interface.JobFinished(job_id, path)
        if self.notifier:
            self._spawn(self.notifier.job_finished(job_id, path))

    def job_failed(self, job_id: str, stage: str, error: str) -> None:
        self.interface.JobFailed(job_id, stage, error)
        if self.notifier:
            self._spawn(self.notifier.job_failed(job_id, stage, error))

    def _spawn(self, coroutine) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)  # keep a reference until it is done
        task.add_done_callback(self._tasks.discard)

    def state_changed(self) -> None:
        daemon = self.interface.daemon
        if daemon is None:
            return
        now = {"State": daemon.state, "CurrentJob": daemon.progress.job_id,
               "QueueLength": daemon.queue.count(protocol.QUEUED)}
        changed = {k: v for k, v in now.items() if self._last.get(k) != v}
        self._last = now
        if changed:
            self.interface.emit_properties_changed(changed)
        if self.on_change:
            self.on_change()

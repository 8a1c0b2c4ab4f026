"""``wallpaperd serve``: the long-lived user service.

Start-up, in order: config → job queue (crash recovery) → session bus and its name →
models loaded in a thread while D-Bus already answers (State=loading) → READY=1 →
worker, inbox, rotation timer, watchdog pings. SIGTERM/SIGINT: the running job stops
at its next step and goes back to the queue, then the process exits 0. SIGHUP reloads
the configuration like the D-Bus ``Reload``.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import datetime
from pathlib import Path

import structlog
from dbus_fast import BusType, RequestNameReply
from dbus_fast.aio import MessageBus
from dbus_fast.constants import NameFlag

from .. import protocol
from ..config import load_config
from ..errors import ConfigError, WallpaperdError
from ..paths import inbox_dir, state_dir
from .core import Daemon, local_time
from .dbus_service import DaemonInterface, SignalEvents
from .inbox import Inbox
from .notifications import DesktopNotifier
from .notify import SystemdNotifier
from .queue import JobQueue
from .schedule import is_due

log = structlog.get_logger(__name__)
ROTATION_CHECK_SECONDS = 20


class ServeError(WallpaperdError):
    """The daemon cannot start (bus, name taken, models)."""


async def serve(config_path: Path | None) -> int:
    cfg = load_config(config_path)
    notifier = SystemdNotifier()
    queue = JobQueue(state_dir(cfg.paths.state) / "jobs.db")
    requeued, failed = queue.recover()
    if requeued or failed:
        log.warning("recovered from an unclean stop", requeued=requeued, failed=failed)

    bus = await _connect()
    interface = DaemonInterface()
    bus.export(protocol.OBJECT_PATH, interface)
    reply = await bus.request_name(protocol.BUS_NAME, NameFlag.DO_NOT_QUEUE)
    if reply not in (RequestNameReply.PRIMARY_OWNER, RequestNameReply.ALREADY_OWNER):
        bus.disconnect()
        raise ServeError(f"another wallpaperd already owns {protocol.BUS_NAME} on this session bus",
                         fix="use that one (wallpaperctl status) or stop it first")

    loop = asyncio.get_running_loop()
    daemon = Daemon(cfg, config_path, queue, None, loop)  # type: ignore[arg-type]
    events = SignalEvents(interface, on_change=lambda: notifier.status(_status_line(daemon)),
                          notifier=DesktopNotifier(bus, lambda: daemon.cfg.notify.enabled))
    daemon.events = events
    interface.daemon = daemon

    notifier.status(f"loading models ({cfg.model.source})")
    try:
        await asyncio.to_thread(daemon.load_models)
    except WallpaperdError as exc:
        notifier.status(f"cannot load the models: {exc.message}")
        bus.disconnect()
        raise
    daemon.start_worker()
    notifier.ready(_status_line(daemon))
    log.info("wallpaperd is ready", bus_name=protocol.BUS_NAME, device=str(daemon.pipeline.device))

    inbox = Inbox(inbox_dir(cfg.paths.inbox), queue, lambda: daemon.cfg, daemon.announce_queued)
    if cfg.inbox.enabled:
        inbox.scan()
        inbox.watch(loop)

    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: _reload(daemon))
    tasks = [asyncio.create_task(_rotate(daemon, stop)), asyncio.create_task(_watchdog(notifier, stop))]

    await stop.wait()
    log.info("stopping: the running job goes back to the queue")
    notifier.stopping()
    events.state_changed()
    inbox.stop()
    await asyncio.to_thread(daemon.stop)
    for task in tasks:
        task.cancel()
    bus.disconnect()
    queue.close()
    return 0


async def _connect() -> MessageBus:
    try:
        return await MessageBus(bus_type=BusType.SESSION).connect()
    except Exception as exc:  # dbus-fast raises OSError, ValueError or its own errors here
        raise ServeError(f"cannot connect to the session bus: {exc}",
                         fix="run inside a desktop session, or under `systemctl --user`; if the "
                         "service lacks DBUS_SESSION_BUS_ADDRESS, run `systemctl --user "
                         "import-environment DBUS_SESSION_BUS_ADDRESS`") from exc


def _reload(daemon: Daemon) -> None:
    try:
        result = daemon.reload()
        log.info("SIGHUP: configuration reloaded", **result)
    except ConfigError as exc:
        log.error("SIGHUP: configuration NOT reloaded; keeping the old one", error=str(exc))


async def _rotate(daemon: Daemon, stop: asyncio.Event) -> None:
    """Queue one rotation job whenever a slot has passed (one for any number missed)."""
    while not stop.is_set():
        daily, interval = daemon.schedule()
        now = datetime.now().astimezone()
        last = daemon.queue.get_value("last_rotation")
        if last is None:
            daemon.queue.set_value("last_rotation", now.timestamp())
        elif not daemon.paused and is_due(now, local_time(last), daily, interval):
            daemon.queue.set_value("last_rotation", now.timestamp())
            daemon.submit({}, "timer")
        try:
            await asyncio.wait_for(stop.wait(), ROTATION_CHECK_SECONDS)
        except asyncio.TimeoutError:
            pass


async def _watchdog(notifier: SystemdNotifier, stop: asyncio.Event) -> None:
    interval = notifier.watchdog_interval()
    if interval is None:
        return
    while not stop.is_set():
        notifier.watchdog()  # the loop is alive, so D-Bus is being answered
        try:
            await asyncio.wait_for(stop.wait(), interval)
        except asyncio.TimeoutError:
            pass


def _status_line(daemon: Daemon) -> str:
    status = daemon.status()
    if "job" in status:
        return f"job {status['job']}: {status['stage']} {status['progress']:.0%}, " \
               f"{status['queue_length']} queued"
    return f"{status['state']}, {status['queue_length']} queued"

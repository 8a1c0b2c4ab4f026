"""``wallpaperctl``: a thin client of the daemon over the session bus.

Exit codes: 0 done; 1 the daemon refused the call or the job failed; 2 bad usage;
3 the daemon (or the session bus) is not there — with a message saying how to start it.
``--json`` prints machine-readable output for every command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from .. import protocol

EXIT_FAILED, EXIT_USAGE, EXIT_NO_DAEMON = 1, 2, 3
NOT_RUNNING = (
    "wallpaperctl: wallpaperd is not running on this session bus.\n"
    "  start it:  systemctl --user start wallpaperd   (installed with `make install-user`)\n"
    "  or run it: wallpaperd serve"
)


class CtlError(Exception):
    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    json_flag = argparse.ArgumentParser(add_help=False)
    json_flag.add_argument("--json", action="store_true", help="machine-readable output")
    parser = argparse.ArgumentParser(prog="wallpaperctl", parents=[json_flag],
                                     description="control the wallpaperd daemon")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    now = sub.add_parser("now", parents=[json_flag], help="make a wallpaper now")
    now.add_argument("--prompt", metavar="TEXT")
    now.add_argument("--negative", metavar="TEXT")
    now.add_argument("--theme", metavar="NAME")
    now.add_argument("--seed", type=int, metavar="N")
    now.add_argument("--image", type=Path, metavar="PATH", help="enhance this picture instead")
    now.add_argument("--wait", action="store_true", help="follow the job until it ends")
    sub.add_parser("status", parents=[json_flag], help="what the daemon is doing")
    sub.add_parser("themes", parents=[json_flag], help="every theme's chance now, and why")
    sub.add_parser("jobs", parents=[json_flag], help="queued and running jobs")
    history = sub.add_parser("history", parents=[json_flag], help="finished jobs, newest first")
    history.add_argument("-n", type=int, default=10, metavar="N")
    cancel = sub.add_parser("cancel", parents=[json_flag], help="cancel a job")
    cancel.add_argument("job_id", metavar="ID")
    for name, text in (("reload", "re-read the configuration"), ("pause", "stop starting jobs"),
                       ("resume", "start jobs again")):
        sub.add_parser(name, parents=[json_flag], help=text)
    set_ = sub.add_parser("set", parents=[json_flag], help="set a picture as the wallpaper")
    set_.add_argument("path", type=Path, metavar="PATH")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(run(args))
    except CtlError as exc:
        print(f"wallpaperctl: {exc}" if exc.code != EXIT_NO_DAEMON else str(exc), file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("\nwallpaperctl: stopped following; the job goes on in the daemon", file=sys.stderr)
        return 130


async def run(args: argparse.Namespace) -> int:
    bus = await _connect()
    try:
        return await COMMANDS[args.command](bus, args)
    finally:
        bus.disconnect()


async def call(bus: MessageBus, member: str, signature: str = "", body: list | None = None) -> list:
    reply = await bus.call(Message(destination=protocol.BUS_NAME, path=protocol.OBJECT_PATH,
                                   interface=protocol.INTERFACE, member=member,
                                   signature=signature, body=body or []))
    if reply.message_type == MessageType.ERROR:
        if reply.error_name in ("org.freedesktop.DBus.Error.ServiceUnknown",
                                "org.freedesktop.DBus.Error.NameHasNoOwner"):
            raise CtlError(NOT_RUNNING, EXIT_NO_DAEMON)
        short = (reply.error_name or "").removeprefix(protocol.ERROR_PREFIX)
        raise CtlError(f"{short}: {reply.body[0] if reply.body else ''}")
    return reply.body


async def cmd_now(bus: MessageBus, args) -> int:
    options: dict[str, Variant] = {}
    for key in ("prompt", "negative", "theme"):
        if getattr(args, key):
            options[key] = Variant("s", getattr(args, key))
    if args.seed is not None:
        options["seed"] = Variant("t", args.seed)
    if args.image:
        options["image"] = Variant("s", str(args.image.expanduser().resolve()))
    follower = _Follower(bus, args.json) if args.wait else None
    if follower:
        await follower.subscribe()
    (job_id,) = await call(bus, "Now", "a{sv}", [options])
    if not follower:
        _print(args, {"job": job_id}, f"queued job {job_id}")
        return 0
    return await follower.follow(job_id)


async def cmd_status(bus: MessageBus, args) -> int:
    (status,) = await call(bus, "Status")
    data = _plain(status)
    lines = [f"state:         {data.get('state')}{' (paused)' if data.get('paused') else ''}",
             f"model:         {data.get('model')} on {data.get('device', '-')}",
             f"VRAM in use:   {data.get('vram_gib', 0):.2f} GiB"]
    if data.get("job"):
        lines.append(f"current job:   {data['job']} - {data.get('stage')} {data.get('progress', 0):.0%}")
    lines.append(f"queued:        {data.get('queue_length', 0)}")
    lines.append(f"next rotation: {data.get('next_rotation', 'none scheduled')}")
    last = data.get("last_result") or {}
    if last:
        lines.append(f"last result:   {last.get('state')} {last.get('path') or last.get('error', '')}")
    if data.get("load_error"):
        lines.append(f"models:        {data['load_error']}")
    _print(args, data, "\n".join(lines))
    return 0


async def cmd_themes(bus: MessageBus, args) -> int:
    (result,) = await call(bus, "Themes")
    data = _plain(result)
    weather = data.get("weather") or {}
    head = (f"weather: {weather.get('description', weather.get('error', 'not used'))}"
            f"{', %.0f °C' % weather['temperature'] if 'temperature' in weather else ''}; "
            f"season: {data.get('season')}; {'day' if data.get('day') else 'night'}")
    lines = [head, ""]
    for row in data.get("themes", []):
        factors = ", ".join(f"{k} x{v:g}" for k, v in row.get("factors", {}).items() if v != 1.0)
        lines.append(f"{row['chance'] * 100:5.1f}%  {row['id']:<24} {row['category']:<13} {factors}")
    _print(args, data, "\n".join(lines))
    return 0


async def cmd_jobs(bus: MessageBus, args) -> int:
    (jobs,) = await call(bus, "ListJobs")
    return _print_jobs(args, [_plain(j) for j in jobs], "no queued or running jobs")


async def cmd_history(bus: MessageBus, args) -> int:
    if args.n < 1:
        raise CtlError("-n must be at least 1", EXIT_USAGE)
    (jobs,) = await call(bus, "History", "u", [args.n])
    return _print_jobs(args, [_plain(j) for j in jobs], "no finished jobs yet")


async def cmd_cancel(bus: MessageBus, args) -> int:
    await call(bus, "Cancel", "s", [args.job_id])
    _print(args, {"cancelled": args.job_id}, f"cancelled {args.job_id}")
    return 0


async def cmd_reload(bus: MessageBus, args) -> int:
    (result,) = await call(bus, "Reload")
    data = _plain(result)
    text = ("configuration unchanged" if not data.get("changed") else
            "configuration reloaded" + ("; models reload before the next job" if data.get("models") else ""))
    _print(args, data, text)
    return 0


async def cmd_simple(bus: MessageBus, args) -> int:
    await call(bus, args.command.capitalize())
    _print(args, {"done": args.command}, f"{args.command}d" if args.command == "pause" else "resumed")
    return 0


async def cmd_set(bus: MessageBus, args) -> int:
    (record,) = await call(bus, "SetWallpaper", "s", [str(args.path.expanduser().resolve())])
    data = _plain(record)
    _print(args, {"set": str(args.path), **data},
           f"wallpaper set: {args.path} ({data.get('backend')}, {data.get('method')})")
    return 0


COMMANDS = {"now": cmd_now, "status": cmd_status, "themes": cmd_themes, "jobs": cmd_jobs, "history": cmd_history,
            "cancel": cmd_cancel, "reload": cmd_reload, "pause": cmd_simple,
            "resume": cmd_simple, "set": cmd_set}


class _Follower:
    """Follows one job through its signals, with a bar per stage on a terminal."""

    def __init__(self, bus: MessageBus, as_json: bool) -> None:
        self.bus, self.as_json = bus, as_json
        self.job_id: str | None = None
        self.done: asyncio.Future = asyncio.get_running_loop().create_future()
        self.backlog: list[Message] = []
        from .progress import StageProgress

        self.progress = None if as_json else StageProgress()

    async def subscribe(self) -> None:
        rule = f"type='signal',interface='{protocol.INTERFACE}',path='{protocol.OBJECT_PATH}'"
        owner = "type='signal',interface='org.freedesktop.DBus',member='NameOwnerChanged'," \
                f"arg0='{protocol.BUS_NAME}'"
        for match in (rule, owner):
            await self.bus.call(Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                                        interface="org.freedesktop.DBus", member="AddMatch",
                                        signature="s", body=[match]))
        self.bus.add_message_handler(self._on_message)

    async def follow(self, job_id: str) -> int:
        self.job_id = job_id
        for message in self.backlog:
            self._on_message(message)
        code, data, text = await self.done
        if self.progress:
            self.progress.close()
        _print(argparse.Namespace(json=self.as_json), data, text, stream=sys.stdout if code == 0 else sys.stderr)
        return code

    def _on_message(self, message: Message) -> None:
        if message.message_type != MessageType.SIGNAL or self.done.done():
            return
        if message.member == "NameOwnerChanged" and message.body[0] == protocol.BUS_NAME \
                and not message.body[2]:
            self.done.set_result((EXIT_FAILED, {"job": self.job_id, "state": "unknown"},
                                  "wallpaperctl: the daemon stopped while following the job"))
            return
        if message.interface != protocol.INTERFACE:
            return
        if self.job_id is None:
            self.backlog.append(message)
            return
        if not message.body or message.body[0] != self.job_id:
            return
        if message.member == "JobProgress" and self.progress:
            _, stage, fraction, detail = message.body
            done, _, total = detail.partition("/")
            if total.isdigit():
                self.progress(stage, int(done), int(total))
        elif message.member == "JobFinished":
            path = message.body[1]
            self.done.set_result((0, {"job": self.job_id, "state": "done", "path": path}, path))
        elif message.member == "JobFailed":
            _, stage, error = message.body
            self.done.set_result((EXIT_FAILED, {"job": self.job_id, "state": "failed", "stage": stage,
                                                "error": error},
                                  f"wallpaperctl: job {self.job_id} failed at {stage or '-'}: {error}"))


async def _connect() -> MessageBus:
    try:
        return await MessageBus(bus_type=BusType.SESSION).connect()
    except Exception as exc:  # no bus address, socket missing, auth refused
        raise CtlError(f"wallpaperctl: cannot reach the session bus ({exc}).\n"
                       "  run it inside your desktop session (DBUS_SESSION_BUS_ADDRESS must be set)",
                       EXIT_NO_DAEMON) from exc


def _plain(value: Any) -> Any:
    if isinstance(value, Variant):
        return _plain(value.value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _print_jobs(args, jobs: list[dict], empty: str) -> int:
    lines = [f"{j['id']}  {j['state']:<9} {j.get('stage', ''):<10} {j.get('output') or j.get('error') or j.get('prompt', '')}"
             for j in jobs]
    _print(args, jobs, "\n".join(lines) or empty)
    return 0


def _print(args, data: Any, text: str, stream=None) -> None:
    stream = stream or sys.stdout
    print(json.dumps(data, indent=2) if args.json else text, file=stream)


if __name__ == "__main__":
    sys.exit(main())

"""The session-bus seam for desktop backends: one connection per call, clear failures."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Mapping

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from ..errors import DesktopError


def run_on_bus(desktop: str, env: Mapping[str, str],
               work: Callable[[MessageBus], Awaitable[Any]], unix_fds: bool = False) -> Any:
    """Connect to ``env``'s session bus, run ``work(bus)``, disconnect (sync wrapper)."""
    address = env.get("DBUS_SESSION_BUS_ADDRESS")
    if not address:
        raise DesktopError(
            f"{desktop}: DBUS_SESSION_BUS_ADDRESS is not set, so the desktop cannot be reached",
            fix="run `systemctl --user import-environment DBUS_SESSION_BUS_ADDRESS` (or run from "
            "a desktop session)")

    async def main() -> Any:
        try:
            bus = await MessageBus(bus_address=address, negotiate_unix_fd=unix_fds).connect()
        except Exception as exc:  # socket gone, auth refused
            raise DesktopError(f"{desktop}: cannot connect to the session bus at {address}: {exc}",
                               fix="check DBUS_SESSION_BUS_ADDRESS") from exc
        try:
            return await work(bus)
        finally:
            bus.disconnect()

    return asyncio.run(main())


async def call(bus: MessageBus, desktop: str, destination: str, path: str, interface: str,
               member: str, signature: str = "", body: list | None = None, **kwargs) -> list:
    """One method call; an error reply becomes a DesktopError naming desktop and method."""
    reply = await bus.call(Message(destination=destination, path=path, interface=interface,
                                   member=member, signature=signature, body=body or [], **kwargs))
    return check_reply(reply, desktop, destination, interface, member)


def check_reply(reply: Message, desktop: str, destination: str, interface: str, member: str) -> list:
    """The reply's body, or a DesktopError naming the desktop, the method and the answer."""
    if reply.message_type == MessageType.ERROR:
        detail = reply.body[0] if reply.body else ""
        missing = reply.error_name in ("org.freedesktop.DBus.Error.ServiceUnknown",
                                       "org.freedesktop.DBus.Error.NameHasNoOwner")
        raise DesktopError(
            f"{desktop}: {interface}.{member} on {destination} failed: {reply.error_name}: {detail}",
            fix=(f"{destination} is not running on this session bus; is this really {desktop}? "
                 "set desktop.backend to match your desktop") if missing else
            "see the message above; set desktop.backend: none to only save pictures")
    return reply.body

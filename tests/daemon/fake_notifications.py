"""A stand-in ``org.freedesktop.Notifications`` server on the tests' real session bus.

Real notification servers (dunst, xfce4-notifyd, GNOME Shell) need a display and cannot
run here; this one records what the daemon sends through the real bus.
"""

# No `from __future__ import annotations`: dbus-fast reads the signature strings below.

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

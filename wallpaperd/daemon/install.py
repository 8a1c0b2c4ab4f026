"""Install the user units: ``python -m wallpaperd.daemon.install`` (``make install-user``).

Writes ``$XDG_CONFIG_HOME/systemd/user/wallpaperd.service`` and the D-Bus activation file
``$XDG_DATA_HOME/dbus-1/services/org.wallpaperd.Daemon1.service`` with ``@BINDIR@``
replaced by the folder of the running ``wallpaperd`` command, then says what to run next.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

UNITS = {
    "wallpaperd.service.in": ("systemd/user", "wallpaperd.service"),
    "org.wallpaperd.Daemon1.service.in": ("dbus-1/services", "org.wallpaperd.Daemon1.service"),
}


def templates_dir() -> Path:
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "systemd", here.parent / "systemd"):
        if (candidate / "wallpaperd.service.in").is_file():
            return candidate
    raise FileNotFoundError("the systemd unit templates are missing; reinstall wallpaperd")


def install(bindir: Path) -> list[Path]:
    if not (bindir / "wallpaperd").exists():
        raise FileNotFoundError(f"{bindir / 'wallpaperd'} does not exist; install wallpaperd first")
    roots = {"systemd/user": Path(platformdirs.user_config_dir()) / "systemd" / "user",
             "dbus-1/services": Path(platformdirs.user_data_dir()) / "dbus-1" / "services"}
    written = []
    for template, (kind, name) in UNITS.items():
        text = (templates_dir() / template).read_text().replace("@BINDIR@", str(bindir))
        target = roots[kind] / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        written.append(target)
    return written


def main() -> int:
    bindir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(sys.executable).parent
    for path in install(bindir.resolve()):
        print(f"installed {path}")
    print("\nnext:\n"
          "  systemctl --user daemon-reload\n"
          "  systemctl --user enable --now wallpaperd\n"
          "if the service cannot reach your desktop (no DISPLAY/WAYLAND_DISPLAY or session bus):\n"
          "  systemctl --user import-environment DISPLAY WAYLAND_DISPLAY XDG_CURRENT_DESKTOP "
          "DBUS_SESSION_BUS_ADDRESS")
    return 0


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main())

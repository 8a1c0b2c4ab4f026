"""A private session bus whose activated services (dconf-service, xfconfd) use a temp home."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from PIL import Image


class DesktopBus:
    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.env = dict(os.environ, HOME=str(root), XDG_CONFIG_HOME=str(root / ".config"),
                        XDG_DATA_HOME=str(root / ".local/share"), XDG_CACHE_HOME=str(root / ".cache"))
        self.env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        self.proc = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                     env=self.env)
        self.env["DBUS_SESSION_BUS_ADDRESS"] = self.proc.stdout.readline().strip()

    def run(self, *argv: str) -> str:
        result = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture(scope="module")
def desktop_bus(tmp_path_factory):
    bus = DesktopBus(tmp_path_factory.mktemp("desktop-home"))
    yield bus
    bus.close()


@pytest.fixture
def picture(tmp_path) -> Path:
    path = tmp_path / "wall paper's 1.png"  # a space and a quote: quoting must hold
    Image.new("RGB", (64, 36), (30, 90, 160)).save(path)
    return path

"""A private session bus (the real dbus-daemon) and the real daemon as a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from ..conftest import small_mapping

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def session_bus(tmp_path_factory):
    """``dbus-daemon --session`` on a private socket; its address for the tests."""
    proc = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    address = proc.stdout.readline().strip()
    assert address.startswith("unix:"), address
    yield address
    proc.terminate()
    proc.wait(10)


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class DaemonProcess:
    """`wallpaperd serve` with a small tiny-model config, in its own folders."""

    def __init__(self, root: Path, bus: str, shared_cache: Path, **overrides) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.inbox = root / "inbox"
        self.pictures = root / "pictures"
        self.state = root / "state"
        overrides = {"desktop__backend": "none", **overrides}  # no desktop unless a test wants one
        data = small_mapping(inbox__debounce_seconds=0.2, **overrides)
        data["generate"].setdefault("steps", 6)
        data["paths"] = {"state": str(self.state), "inbox": str(self.inbox), "cache": str(shared_cache)}
        data["output"] = {"dir": str(self.pictures)}
        self.config = root / "wallpaperd.yaml"
        self.config.write_text(yaml.safe_dump(data))
        self.env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=bus, HOME=str(root / "home"),
                        PYTHONUNBUFFERED="1")
        self.env.pop("NOTIFY_SOCKET", None)
        self.proc: subprocess.Popen | None = None
        self.log = root / "serve.log"

    def start(self, wait: bool = True, **env) -> "DaemonProcess":
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen([BIN / "wallpaperd", "serve", "--config", str(self.config)],
                                         env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT)
        if wait:
            wait_for(lambda: self.status().get("state") in ("idle", "running", "paused"),
                     what="the daemon to be ready")
        return self

    def ctl(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([BIN / "wallpaperctl", *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def status(self) -> dict:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"the daemon exited with {self.proc.returncode}:\n{self.log.read_text()}")
        result = self.ctl("status", "--json")
        return json.loads(result.stdout) if result.returncode == 0 else {}

    def history(self) -> list[dict]:
        return json.loads(self.ctl("history", "-n", "100", "--json").stdout)

    def signal(self, sig: int) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def make_daemon(tmp_path, session_bus, shared_cache):
    started: list[DaemonProcess] = []

    def make(**overrides) -> DaemonProcess:
        daemon = DaemonProcess(tmp_path / f"d{len(started)}", session_bus, shared_cache, **overrides)
        started.append(daemon)
        return daemon

    yield make
    for daemon in started:
        daemon.stop()

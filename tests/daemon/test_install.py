"""The shipped unit files and their installation into the user's folders."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from wallpaperd.daemon.install import install
from wallpaperd import protocol


def parse(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    parser.read_string(path.read_text())
    return parser


def test_make_install_user_writes_both_units(isolated_home):
    bindir = Path(sys.executable).parent
    result = subprocess.run(["make", "-s", "install-user", f"BIN={bindir}", f"STAMP={bindir}/python"],
                            cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "systemctl --user enable --now wallpaperd" in result.stdout
    assert "import-environment" in result.stdout

    unit = parse(isolated_home / ".config/systemd/user/wallpaperd.service")
    service = unit["Service"]
    assert service["Type"] == "notify" and service["BusName"] == protocol.BUS_NAME
    assert service["ExecStart"] == f"{bindir}/wallpaperd serve"
    assert service["Restart"] == "on-failure" and "WatchdogSec" in service
    assert unit["Install"]["WantedBy"] == "graphical-session.target"
    assert unit["Unit"]["PartOf"] == "graphical-session.target"
    for hides_the_gpu in ("PrivateDevices", "DevicePolicy", "ProtectKernelModules", "DeviceAllow"):
        assert hides_the_gpu not in service

    activation = parse(isolated_home / ".local/share/dbus-1/services/org.wallpaperd.Daemon1.service")
    entry = activation["D-BUS Service"]
    assert entry["Name"] == protocol.BUS_NAME and entry["SystemdService"] == "wallpaperd.service"
    assert entry["Exec"] == f"{bindir}/wallpaperd serve"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_accepts_the_unit(isolated_home):
    """systemd's own parser: every key known, ExecStart valid (warnings would be printed)."""
    install(Path(sys.executable).parent)
    unit = isolated_home / ".config/systemd/user/wallpaperd.service"
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Unknown" not in result.stderr and "wallpaperd.service" not in result.stderr, result.stderr


def test_install_refuses_a_folder_without_wallpaperd(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        install(tmp_path)

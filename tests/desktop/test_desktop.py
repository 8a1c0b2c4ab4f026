"""Desktop backends against the real services where Debian has them (dconf, xfconfd)."""

from __future__ import annotations

import shutil

import pytest

from wallpaperd.config.schema import DesktopConfig
from wallpaperd.desktop import set_wallpaper
from wallpaperd.desktop.commands import command_argv, hyprland_argv, sway_argv
from wallpaperd.desktop.detect import detect_backend
from wallpaperd.desktop.gsettings import gvariant_string, parse_gvariant_string
from wallpaperd.errors import DesktopError

needs = pytest.mark.skipif(not (shutil.which("gsettings") and shutil.which("xfconf-query")),
                           reason="needs libglib2.0-bin, dconf-service and xfconf (make test installs them)")


@needs
def test_gnome_sets_light_and_dark_uris_through_real_dconf(desktop_bus, picture):
    record = set_wallpaper(picture, DesktopConfig(backend="gnome", lock_screen=True), desktop_bus.env)
    uri = picture.as_uri()
    get = lambda schema, key: desktop_bus.run("gsettings", "get", schema, key)  # noqa: E731
    assert parse_gvariant_string(get("org.gnome.desktop.background", "picture-uri")) == uri
    assert parse_gvariant_string(get("org.gnome.desktop.background", "picture-uri-dark")) == uri
    assert get("org.gnome.desktop.background", "picture-options") == "'zoom'"
    assert parse_gvariant_string(get("org.gnome.desktop.screensaver", "picture-uri")) == uri
    assert record["backend"] == "gnome" and record["method"] == "gsettings"
    # and dconf (not a memory store) holds it: a fresh reader sees it on disk
    assert uri in desktop_bus.run("dconf", "read", "/org/gnome/desktop/background/picture-uri")


@needs
def test_gnome_without_a_session_bus_says_how_to_fix_it(picture):
    with pytest.raises(DesktopError, match="DBUS_SESSION_BUS_ADDRESS is not set") as err:
        set_wallpaper(picture, DesktopConfig(backend="gnome"), {"PATH": "/usr/bin:/bin"})
    assert "import-environment" in err.value.fix


@needs
@pytest.mark.parametrize("desktop, schema, key, value", [
    ("cinnamon", "org.cinnamon.desktop.background", "picture-uri", "uri"),
    ("mate", "org.mate.background", "picture-filename", "path"),
])
def test_cinnamon_and_mate_through_their_real_schemas(desktop_bus, picture, desktop, schema, key, value):
    record = set_wallpaper(picture, DesktopConfig(backend=desktop, mode="center"), desktop_bus.env)
    expected = picture.as_uri() if value == "uri" else str(picture)
    assert parse_gvariant_string(desktop_bus.run("gsettings", "get", schema, key)) == expected
    assert desktop_bus.run("gsettings", "get", schema, "picture-options") == "'centered'"
    assert record["backend"] == desktop
    with pytest.raises(DesktopError, match="has no lock-screen picture setting"):
        set_wallpaper(picture, DesktopConfig(backend=desktop, lock_screen=True), desktop_bus.env)


@needs
def test_missing_schema_is_named(desktop_bus, picture, tmp_path):
    env = {**desktop_bus.env, "GSETTINGS_SCHEMA_DIR": str(tmp_path)}  # no schemas at all
    env["XDG_DATA_DIRS"] = str(tmp_path)
    with pytest.raises(DesktopError, match="gsettings set org.gnome.desktop.background") as err:
        set_wallpaper(picture, DesktopConfig(backend="gnome"), env)
    assert "schema is not installed" in err.value.fix


@needs
def test_xfce_sets_every_monitor_and_workspace_through_real_xfconfd(desktop_bus, picture):
    desktop_bus.run("xfconf-query", "-c", "xfce4-desktop", "-p", "/backdrop", "-r", "-R")
    keys = [f"/backdrop/screen0/monitor{m}/workspace{w}/last-image"
            for m in ("HDMI-1", "eDP-1") for w in (0, 1)]
    for key in keys:
        desktop_bus.run("xfconf-query", "-c", "xfce4-desktop", "-p", key, "-n", "-t", "string",
                        "-s", "/usr/share/old.png")
    record = set_wallpaper(picture, DesktopConfig(backend="xfce"), desktop_bus.env)
    for key in keys:
        assert desktop_bus.run("xfconf-query", "-c", "xfce4-desktop", "-p", key) == str(picture)
        style = key.replace("last-image", "image-style")
        assert desktop_bus.run("xfconf-query", "-c", "xfce4-desktop", "-p", style) == "5"
    assert record["properties"] == sorted(keys) and record["created"] is False
    assert record["monitors"] == ["monitorHDMI-1", "monitoreDP-1"]


@needs
def test_xfce_creates_the_properties_on_a_fresh_profile(desktop_bus, picture):
    desktop_bus.run("xfconf-query", "-c", "xfce4-desktop", "-p", "/backdrop", "-r", "-R")
    env = {**desktop_bus.env, "DISPLAY": ""}
    record = set_wallpaper(picture, DesktopConfig(backend="xfce", mode="fit"), env)
    key = "/backdrop/screen0/monitor0/workspace0/last-image"
    assert record["created"] is True and record["properties"] == [key]
    assert desktop_bus.run("xfconf-query", "-c", "xfce4-desktop", "-p", key) == str(picture)
    assert desktop_bus.run("xfconf-query", "-c", "xfce4-desktop", "-p",
                           key.replace("last-image", "image-style")) == "4"


def test_kde_without_plasmashell_names_the_service(desktop_bus, picture):
    with pytest.raises(DesktopError, match="org.kde.plasmashell") as err:
        set_wallpaper(picture, DesktopConfig(backend="kde"), desktop_bus.env)
    assert "is not running on this session bus" in err.value.fix


@pytest.mark.parametrize("env, expected", [
    ({"XDG_CURRENT_DESKTOP": "ubuntu:GNOME"}, "gnome"),
    ({"XDG_CURRENT_DESKTOP": "Budgie:GNOME"}, "gnome"),
    ({"XDG_CURRENT_DESKTOP": "KDE"}, "kde"),
    ({"XDG_CURRENT_DESKTOP": "XFCE"}, "xfce"),
    ({"XDG_CURRENT_DESKTOP": "X-Cinnamon"}, "cinnamon"),
    ({"XDG_CURRENT_DESKTOP": "MATE"}, "mate"),
    ({"XDG_CURRENT_DESKTOP": "sway"}, "sway"),
    ({"XDG_CURRENT_DESKTOP": "Hyprland"}, "hyprland"),
    ({"DESKTOP_SESSION": "/usr/share/xsessions/plasma"}, "kde"),
    ({"SWAYSOCK": "/run/user/1000/sway.sock", "DESKTOP_SESSION": "x"}, "sway"),
])
def test_detection(env, expected):
    assert detect_backend(env) == expected


def test_detection_without_session_environment_explains_import_environment():
    with pytest.raises(DesktopError, match="XDG_CURRENT_DESKTOP and DESKTOP_SESSION are not set") as err:
        detect_backend({})
    assert "systemctl --user import-environment XDG_CURRENT_DESKTOP" in err.value.fix


def test_unknown_desktop_lists_the_choices():
    with pytest.raises(DesktopError, match="unknown desktop: XDG_CURRENT_DESKTOP='Enlightenment'"):
        detect_backend({"XDG_CURRENT_DESKTOP": "Enlightenment"})


def test_command_backends_build_exact_argv(picture):
    assert sway_argv(picture, "zoom") == [["swaymsg", "output", "*", "bg", str(picture), "fill"]]
    assert hyprland_argv(picture) == [["hyprctl", "hyprpaper", "preload", str(picture)],
                                      ["hyprctl", "hyprpaper", "wallpaper", f",{picture}"]]
    assert command_argv("feh --bg-fill {path}", picture) == [["feh", "--bg-fill", str(picture)]]
    assert command_argv("setbg --uri={uri}", picture) == [["setbg", f"--uri={picture.as_uri()}"]]


def test_missing_binary_is_reported(picture):
    with pytest.raises(DesktopError, match="'swaymsg' is not installed"):
        set_wallpaper(picture, DesktopConfig(backend="sway"), {"PATH": "/nonexistent"})


def test_user_command_runs_without_a_shell(picture, tmp_path):
    marker = tmp_path / "out.txt"
    cfg = DesktopConfig(backend="command", command=f"cp {{path}} {marker}")
    record = set_wallpaper(picture, cfg, {"PATH": "/usr/bin:/bin"})
    assert marker.read_bytes() == picture.read_bytes() and record["method"] == "command"
    failing = DesktopConfig(backend="command", command="false {path}")
    with pytest.raises(DesktopError, match="exited with 1"):
        set_wallpaper(picture, failing, {"PATH": "/usr/bin:/bin"})


def test_none_only_saves(picture):
    assert set_wallpaper(picture, DesktopConfig(backend="none"), {})["method"] == "none"


def test_missing_picture(tmp_path):
    with pytest.raises(DesktopError, match="no such file"):
        set_wallpaper(tmp_path / "nope.png", DesktopConfig(backend="none"), {})


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js for the Plasma script stub")
def test_kde_script_sets_every_desktop_and_reads_back(desktop_bus, picture):
    """plasmashell is a stand-in here (fakes.py); the JavaScript itself runs in Node.js."""
    from .fakes import FakePlasmaShell, ServiceThread

    with ServiceThread(desktop_bus.env["DBUS_SESSION_BUS_ADDRESS"], "org.kde.plasmashell",
                       "/PlasmaShell", FakePlasmaShell(monitors=3)) as shell:
        record = set_wallpaper(picture, DesktopConfig(backend="kde", mode="fit"), desktop_bus.env)
    assert record == {"backend": "kde", "method": "evaluateScript", "desktops": 3}
    for desktop in shell.desktops():
        assert desktop["plugin"] == "org.kde.image"
        general = desktop["config"]["Wallpaper/org.kde.image/General"]
        assert general == {"Image": picture.as_uri(), "FillMode": 1}
    assert len(shell.scripts) == 2  # set, then read back


@pytest.mark.parametrize("answer, outcome", [(0, None), (1, "cancelled by the user"),
                                             (2, "refused by the portal backend")])
def test_portal_passes_the_file_and_follows_the_request(desktop_bus, picture, answer, outcome):
    """xdg-desktop-portal is a stand-in here (fakes.py) on the real bus."""
    from .fakes import FakePortal, ServiceThread

    cfg = DesktopConfig(backend="portal", lock_screen=True)
    with ServiceThread(desktop_bus.env["DBUS_SESSION_BUS_ADDRESS"], "org.freedesktop.portal.Desktop",
                       "/org/freedesktop/portal/desktop", FakePortal(answer)) as portal:
        if outcome is None:
            record = set_wallpaper(picture, cfg, desktop_bus.env)
            assert record["method"] == "SetWallpaperFile" and record["set_on"] == "both"
        else:
            with pytest.raises(DesktopError, match=f"SetWallpaperFile was {outcome}"):
                set_wallpaper(picture, cfg, desktop_bus.env)
    (call,) = portal.received
    assert call["content"] == picture.read_bytes()  # the fd was the picture itself
    assert call["options"]["show-preview"] is False and call["options"]["set-on"] == "both"


def test_gvariant_string_round_trip():
    for text in ("plain", "it's", 'say "hi"', "back\\slash", "file:///a%20b.png"):
        assert parse_gvariant_string(gvariant_string(text)) == text


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js for the Plasma script stub")
def test_kde_lock_screen_without_kwriteconfig_is_reported(desktop_bus, picture):
    from .fakes import FakePlasmaShell, ServiceThread

    env = {**desktop_bus.env, "PATH": "/nonexistent"}
    with ServiceThread(desktop_bus.env["DBUS_SESSION_BUS_ADDRESS"], "org.kde.plasmashell",
                       "/PlasmaShell", FakePlasmaShell(monitors=1)):
        with pytest.raises(DesktopError, match="kwriteconfig6/kwriteconfig5 not found"):
            set_wallpaper(picture, DesktopConfig(backend="kde", lock_screen=True), env)

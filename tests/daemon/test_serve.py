"""The daemon end to end: a real session bus, real SQLite, the tiny model, real signals."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from PIL import Image

from wallpaperd import protocol
from wallpaperd.daemon.queue import JobQueue

from .conftest import wait_for

pytestmark = pytest.mark.slow


def finished(daemon, count: int = 1) -> list[dict]:
    return wait_for(lambda: [j for j in daemon.history() if j["state"] != "queued"][:count]
                    if len(daemon.history()) >= count else None, timeout=120, what="finished jobs")


def test_inbox_file_becomes_a_wallpaper_in_history(make_daemon):
    daemon = make_daemon().start()
    (daemon.inbox / "morning.txt").write_text("a lighthouse at dawn")
    (daemon.inbox / "evil.yaml").write_text("prompt: x\noverrides:\n  model:\n    source: /tmp\n")
    (job,) = finished(daemon)
    assert job["state"] == "done" and job["origin"] == "inbox" and job["prompt"] == "a lighthouse at dawn"
    assert Image.open(job["output"]).size == (320, 180)
    assert os.path.exists(job["output"].removesuffix(".png") + ".json")
    assert [p.name for p in (daemon.inbox / "accepted").iterdir()] == [f"{job['id']}--morning.txt"]
    error = (daemon.inbox / "rejected" / "evil.yaml.error.txt").read_text()
    assert "override 'model' is not allowed" in error


def test_now_wait_exit_codes(make_daemon, tmp_path):
    daemon = make_daemon().start()
    ok = daemon.ctl("now", "--prompt", "a red barn", "--seed", "3", "--wait")
    assert ok.returncode == 0, ok.stderr
    assert Image.open(ok.stdout.strip()).size == (320, 180)
    assert "enhance" in ok.stderr  # progress per stage came from the signals

    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot a picture")
    bad = daemon.ctl("now", "--image", str(broken), "--wait", "--json")
    assert bad.returncode == 1
    result = json.loads(bad.stdout or bad.stderr)
    assert result["state"] == "failed" and "could not be read as a picture" in result["error"]
    history = daemon.history()
    assert [j["state"] for j in history] == ["failed", "done"]
    assert daemon.status()["last_result"]["state"] == "failed"


def test_status_answers_while_a_job_is_denoising(make_daemon, session_bus):
    make_daemon(generate__steps=300).start()

    async def probe():
        bus = await MessageBus(bus_address=session_bus).connect()
        try:
            await call(bus, "Now", "a{sv}", [{"prompt": Variant("s", "slow")}])
            seen = []
            for _ in range(2000):
                status = (await call(bus, "Status"))[0]
                if status["state"].value == "running" and status.get("stage", Variant("s", "")).value == "generate":
                    seen.append(status["progress"].value)
                if len(seen) >= 3 or status["state"].value == "idle" and seen:
                    break
                await asyncio.sleep(0.01)
            return seen
        finally:
            bus.disconnect()

    seen = asyncio.run(probe())
    assert len(seen) >= 3, seen
    assert all(0 < p < 1 for p in seen) and seen == sorted(seen)


def test_bad_calls_get_named_errors_and_the_daemon_goes_on(make_daemon, session_bus, tmp_path):
    make_daemon().start()

    async def calls():
        bus = await MessageBus(bus_address=session_bus).connect()
        try:
            cases = [
                ("Now", "a{sv}", [{"bogus": Variant("s", "x")}]),
                ("Now", "a{sv}", [{"seed": Variant("s", "12")}]),
                ("Now", "a{sv}", [{"prompt": Variant("s", "  ")}]),
                ("Now", "a{sv}", [{"image": Variant("s", "relative.png")}]),
                ("Now", "a{sv}", [{"image": Variant("s", str(tmp_path / "missing.png"))}]),
                ("Now", "a{sv}", [{"theme": Variant("s", "autumn")}]),
                ("Cancel", "s", ["no-such-job"]),
                ("History", "u", [0]),
                ("SetWallpaper", "s", [str(tmp_path / "missing.png")]),
                ("Now", "s", ["not a dict"]),
            ]
            errors = []
            for member, sig, body in cases:
                reply = await bus.call(message(member, sig, body))
                errors.append((reply.error_name, reply.body[0] if reply.body else ""))
            status = (await call(bus, "Status"))[0]
            return errors, status
        finally:
            bus.disconnect()

    errors, status = asyncio.run(calls())
    names = [name for name, _ in errors]
    assert names[:9] == [protocol.ERR_UNKNOWN_OPTION, protocol.ERR_INVALID_ARGS, protocol.ERR_INVALID_ARGS,
                         protocol.ERR_BAD_PATH, protocol.ERR_BAD_PATH, protocol.ERR_INVALID_ARGS,
                         protocol.ERR_UNKNOWN_JOB, protocol.ERR_INVALID_ARGS, protocol.ERR_BAD_PATH]
    assert names[9] == "org.freedesktop.DBus.Error.UnknownMethod"  # wrong signature
    assert "unknown option(s): bogus" in errors[0][1] and "missing.png" in errors[4][1]
    assert status["state"].value == "idle" and status["queue_length"].value == 0


def test_sigkill_mid_job_then_restart_completes_it_exactly_once(make_daemon):
    daemon = make_daemon(generate__steps=300).start()
    (daemon.inbox / "survive.txt").write_text("a prompt that must not be lost")
    wait_for(lambda: daemon.status().get("stage") == "generate", what="the job to be denoising")
    assert daemon.signal(signal.SIGKILL) == -signal.SIGKILL

    queue = JobQueue(daemon.state / "jobs.db")
    (job,) = queue.active()
    assert job.state == "running" and job.attempts == 1  # as the crash left it
    queue.close()

    daemon.start()
    (done,) = finished(daemon)
    assert done["id"] == job.id and done["state"] == "done" and done["attempts"] == 2
    assert len(daemon.history()) == 1
    assert [p.name for p in (daemon.inbox / "accepted").iterdir()] == [f"{job.id}--survive.txt"]
    assert len(list(daemon.pictures.glob("*.png"))) == 1


def test_sigterm_hands_the_job_back_and_exits_zero(make_daemon):
    daemon = make_daemon(generate__steps=300).start()
    assert daemon.ctl("now", "--prompt", "interrupted").returncode == 0
    wait_for(lambda: daemon.status().get("stage") == "generate", what="the job to be denoising")
    assert daemon.signal(signal.SIGTERM) == 0
    queue = JobQueue(daemon.state / "jobs.db")
    (job,) = queue.active()
    assert job.state == "queued" and job.attempts == 0
    queue.close()
    assert "stopping: the running job goes back to the queue" in daemon.log.read_text()

    daemon.start()
    (done,) = finished(daemon)
    assert done["id"] == job.id and done["state"] == "done" and done["attempts"] == 1


def test_pause_persists_and_reload_keeps_a_good_config(make_daemon):
    daemon = make_daemon().start()
    assert daemon.ctl("pause").returncode == 0
    daemon.stop()
    daemon.start()
    assert daemon.status()["paused"] is True
    assert daemon.ctl("now", "--prompt", "waits").returncode == 0
    assert daemon.status()["queue_length"] == 1  # paused: not started

    good = daemon.config.read_text().replace("strength: 0.35", "strength: 0.3")
    daemon.config.write_text(good)
    reloaded = daemon.ctl("reload")
    assert reloaded.returncode == 0 and "configuration reloaded" in reloaded.stdout
    daemon.config.write_text(good + "bogus_section: 1\n")
    refused = daemon.ctl("reload")
    assert refused.returncode == 1 and "bogus_section" in refused.stderr
    daemon.config.write_text(good)

    assert daemon.ctl("resume").returncode == 0
    (done,) = finished(daemon)
    assert done["state"] == "done"


def test_systemd_readiness_comes_after_the_models(make_daemon, tmp_path):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(60)
    daemon = make_daemon().start(NOTIFY_SOCKET=path, WATCHDOG_USEC="400000")
    messages = []
    while not any("READY=1" in m for m in messages):
        messages.append(sock.recv(4096).decode())
    assert messages[0].startswith("STATUS=loading models")
    assert "READY=1" in messages[-1] and "models loaded" in daemon.log.read_text()
    while "WATCHDOG=1" not in messages[-1]:  # pings every 0.2 s (half of WATCHDOG_USEC)
        messages.append(sock.recv(4096).decode())
    daemon.signal(signal.SIGTERM)
    sock.settimeout(5)
    assert "STOPPING=1" in "".join(_drain(sock))


def test_wallpaperctl_without_a_daemon(make_daemon):
    daemon = make_daemon()  # never started
    result = daemon.ctl("status")
    assert result.returncode == 3
    assert "wallpaperd is not running" in result.stderr and "systemctl --user start" in result.stderr
    assert "Traceback" not in result.stderr


def _drain(sock):
    out = []
    try:
        while True:
            out.append(sock.recv(4096).decode())
    except (TimeoutError, socket.timeout):
        return out


def message(member: str, signature: str = "", body=None) -> Message:
    return Message(destination=protocol.BUS_NAME, path=protocol.OBJECT_PATH,
                   interface=protocol.INTERFACE, member=member, signature=signature, body=body or [])


async def call(bus, member, signature="", body=None):
    reply = await bus.call(message(member, signature, body))
    assert reply.message_type == MessageType.METHOD_RETURN, reply.body
    return reply.body





def test_desktop_notifications_for_success_and_failure(make_daemon, session_bus, tmp_path):
    from ..desktop.fakes import ServiceThread
    from .fake_notifications import FakeNotifications

    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a picture")
    daemon = make_daemon()
    with ServiceThread(session_bus, "org.freedesktop.Notifications", "/org/freedesktop/Notifications",
                       FakeNotifications()) as server:
        daemon.start()
        done = daemon.ctl("now", "--prompt", "notify me", "--wait")
        assert done.returncode == 0
        assert daemon.ctl("now", "--image", str(broken), "--wait").returncode == 1
        wait_for(lambda: len(server.calls) == 2, timeout=10, what="two notifications")
    ok, failed = server.calls
    path = done.stdout.strip()
    assert ok["app"] == "wallpaperd" and ok["summary"] == "New wallpaper" and ok["icon"] == path
    assert ok["hints"]["image-path"] == "file://" + path
    assert failed["summary"] == "Wallpaper job failed at generate"
    assert "could not be read as a picture" in failed["body"]


def test_no_notification_server_is_not_fatal(make_daemon):
    daemon = make_daemon().start()
    assert daemon.ctl("now", "--prompt", "nobody listens", "--wait").returncode == 0
    assert daemon.ctl("now", "--prompt", "still fine", "--wait").returncode == 0
    log = daemon.log.read_text()
    assert log.count("no desktop notification server on the session bus; notifications off") == 1


def test_missed_rotation_runs_once_after_being_off(make_daemon):
    """Off for three days with a daily slot: one catch-up rotation at start, not three."""
    daemon = make_daemon(schedule__daily="07:00")
    queue = JobQueue(daemon.state / "jobs.db")
    queue.set_value("last_rotation", time.time() - 3 * 86400)
    queue.close()
    daemon.start()
    (job,) = finished(daemon)
    assert job["origin"] == "timer" and job["state"] == "done"
    assert len(daemon.history()) == 1 and daemon.status()["queue_length"] == 0
    assert "next_rotation" in daemon.status()


def test_sighup_reloads_and_keeps_the_old_config_on_error(make_daemon):
    daemon = make_daemon().start()
    daemon.config.write_text(daemon.config.read_text() + "nonsense: true\n")
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "configuration NOT reloaded" in daemon.log.read_text(), what="the reload log")
    assert "nonsense" in daemon.log.read_text()
    assert daemon.ctl("now", "--prompt", "old config still works", "--wait").returncode == 0


def test_cancel_a_running_job(make_daemon):
    daemon = make_daemon(generate__steps=300).start()
    job_id = daemon.ctl("now", "--prompt", "never mind", "--json")
    job_id = json.loads(job_id.stdout)["job"]
    wait_for(lambda: daemon.status().get("stage") == "generate", what="the job to be denoising")
    assert daemon.ctl("cancel", job_id).returncode == 0
    (job,) = finished(daemon)
    assert job["id"] == job_id and job["state"] == "cancelled"
    assert list(daemon.pictures.glob("*.png")) == []
    again = daemon.ctl("cancel", job_id)
    assert again.returncode == 1 and "JobFinished" in again.stderr


def test_jobs_end_with_the_wallpaper_set_on_gnome_through_real_dconf(make_daemon):
    """The daemon detects GNOME from its environment and sets both URIs via dconf.

    dconf clients read the database file in their own home and write through
    dconf-service, so the bus (which starts dconf-service) shares the daemon's home here,
    as in a real session.
    """
    from ..desktop.conftest import DesktopBus

    daemon = make_daemon(desktop__backend="auto")
    bus = DesktopBus(daemon.root / "home")
    daemon.env.update({k: bus.env[k] for k in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME",
                                              "DBUS_SESSION_BUS_ADDRESS")})
    daemon.env["XDG_CURRENT_DESKTOP"] = "ubuntu:GNOME"
    daemon.start()
    done = daemon.ctl("now", "--prompt", "set me", "--wait")
    assert done.returncode == 0, done.stderr
    uri = "file://" + done.stdout.strip()
    get = lambda key: subprocess.run(["gsettings", "get", "org.gnome.desktop.background", key],  # noqa: E731
                                     env=daemon.env, capture_output=True, text=True).stdout.strip()
    assert get("picture-uri") == f"'{uri}'" and get("picture-uri-dark") == f"'{uri}'"
    (job,) = daemon.history()
    queue = JobQueue(daemon.state / "jobs.db")
    assert queue.get(job["id"]).metadata["desktop"]["backend"] == "gnome"
    queue.close()
    sidecar = json.loads(Path(done.stdout.strip()).with_suffix(".json").read_text())
    assert sidecar["desktop"]["method"] == "gsettings"

    first = done.stdout.strip()
    again = daemon.ctl("set", first, "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["backend"] == "gnome"
    daemon.stop()
    bus.close()


def test_a_desktop_failure_fails_the_job_at_set_and_keeps_the_picture(make_daemon):
    daemon = make_daemon(desktop__backend="auto")  # no XDG_CURRENT_DESKTOP in its environment
    daemon.env.pop("XDG_CURRENT_DESKTOP", None)
    daemon.env.pop("DESKTOP_SESSION", None)
    daemon.start()
    result = daemon.ctl("now", "--prompt", "no desktop here", "--wait", "--json")
    assert result.returncode == 1
    failure = json.loads(result.stdout or result.stderr)
    assert failure["stage"] == "set"
    assert "XDG_CURRENT_DESKTOP and DESKTOP_SESSION are not set" in failure["error"]
    assert len(list(daemon.pictures.glob("*.png"))) == 1  # the picture stays
    assert daemon.status()["state"] == "idle"


def test_a_job_without_a_prompt_plans_a_theme_and_records_why(make_daemon):
    daemon = make_daemon(generate__prompt=None)
    daemon.start()
    (daemon.inbox / "themed.yaml").write_text("theme: aurora\nseed: 12\n")
    (job,) = finished(daemon)
    assert job["state"] == "done"
    queue = JobQueue(daemon.state / "jobs.db")
    plan = queue.get(job["id"]).metadata["plan"]
    queue.close()
    assert plan["theme"]["id"] == "aurora" and plan["theme"]["how"] == "forced"
    assert plan["weather"]["used"] is False  # no location in the test config

    themes = daemon.ctl("themes", "--json")
    data = json.loads(themes.stdout)
    assert len(data["themes"]) >= 60 and abs(sum(t["chance"] for t in data["themes"]) - 1) < 1e-6
    recent = next(t for t in data["themes"] if t["id"] == "aurora")
    assert recent["factors"]["recency"] == 0.25  # used once, just now
    text = daemon.ctl("themes").stdout
    assert "aurora" in text and "recency x0.25" in text

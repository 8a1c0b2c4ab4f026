"""The D-Bus protocol shared by the daemon and ``wallpaperctl`` — names only, no logic.

Session bus, well-known name ``org.wallpaperd.Daemon1``, object ``/org/wallpaperd/Daemon1``,
interface ``org.wallpaperd.Daemon1``.

Methods::

    Now(a{sv} options) -> s job_id      options: prompt, negative, theme, seed (t), image (s);
                                        no prompt and no theme: a theme is picked
    Status() -> a{sv}
    ListJobs() -> aa{sv}                queued and running jobs
    History(u limit) -> aa{sv}          finished jobs, newest first
    Themes() -> a{sv}                   weather, season, and every theme's chance now and why
    Cancel(s job_id)
    Reload()
    Pause()
    Resume()
    SetWallpaper(s path)

Signals::

    JobQueued(s job_id, s origin)
    JobProgress(s job_id, s stage, d fraction, s message)
    JobFinished(s job_id, s path)
    JobFailed(s job_id, s stage, s error)

Properties (read-only, PropertiesChanged emitted): ``State`` (s: loading, idle, running,
paused, stopping), ``CurrentJob`` (s, empty when idle), ``QueueLength`` (u).

Errors are ``org.wallpaperd.Error.<Name>`` with a readable message.
"""

from __future__ import annotations

BUS_NAME = "org.wallpaperd.Daemon1"
OBJECT_PATH = "/org/wallpaperd/Daemon1"
INTERFACE = "org.wallpaperd.Daemon1"

ERROR_PREFIX = "org.wallpaperd.Error."
ERR_INVALID_ARGS = ERROR_PREFIX + "InvalidArgs"
ERR_UNKNOWN_OPTION = ERROR_PREFIX + "UnknownOption"
ERR_BAD_PATH = ERROR_PREFIX + "BadPath"
ERR_UNKNOWN_JOB = ERROR_PREFIX + "UnknownJob"
ERR_JOB_FINISHED = ERROR_PREFIX + "JobFinished"
ERR_CONFIG = ERROR_PREFIX + "Config"
ERR_DESKTOP = ERROR_PREFIX + "Desktop"
ERR_NOT_READY = ERROR_PREFIX + "NotReady"

#: Options accepted by Now(), with their D-Bus signature.
NOW_OPTIONS = {"prompt": "s", "negative": "s", "theme": "s", "seed": "t", "image": "s"}

#: Job states in the queue; the last three are final.
QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINAL_STATES = (DONE, FAILED, CANCELLED)

#: Daemon states (the State property).
LOADING, IDLE, BUSY, PAUSED, STOPPING = "loading", "idle", "running", "paused", "stopping"

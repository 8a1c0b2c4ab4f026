"""The daemon's behaviour, independent of D-Bus: requests, the GPU worker, reload, status.

The asyncio loop owns requests (``submit``, ``cancel``, ``pause``, ``status``...) and never
blocks on the GPU; one worker thread owns the models and runs jobs one at a time. The
worker reports back through ``Events``, whose methods are called on the loop thread.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, time, timedelta
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import structlog

from ..config import Config, load_config
from ..config.schema import parse_clock, parse_duration
from ..desktop import set_wallpaper
from ..errors import CancelledError, DesktopError, RequestError, WallpaperdError
from ..output import add_to_sidecar, save_result, unique_path
from ..paths import output_dir, state_dir
from ..planning.plan import library, plan_job, recent_themes, themes_now
from ..pipeline.job import IMAGE_SUFFIXES, JobRequest, Pipeline
from ..protocol import (BUSY, CANCELLED, DONE, ERR_INVALID_ARGS, ERR_JOB_FINISHED, ERR_UNKNOWN_JOB,
                        ERR_UNKNOWN_OPTION, FAILED, IDLE, LOADING, NOW_OPTIONS, PAUSED, QUEUED,
                        RUNNING, STOPPING, ERR_BAD_PATH)
from .prompt_file import apply_overrides
from .queue import Job, JobQueue
from .schedule import next_due

log = structlog.get_logger(__name__)

#: Config sections whose change needs the models loaded again.
MODEL_SECTIONS = ("model",)
MODEL_KEYS = (("generate", "dtype"), ("generate", "scheduler"), ("upscale", "model"),
              ("upscale", "scale"), ("upscale", "precision"))


class Events(Protocol):
    """What the daemon announces (the D-Bus service turns these into signals)."""

    def job_queued(self, job_id: str, origin: str) -> None: ...
    def job_progress(self, job_id: str, stage: str, fraction: float, message: str) -> None: ...
    def job_finished(self, job_id: str, path: str) -> None: ...
    def job_failed(self, job_id: str, stage: str, error: str) -> None: ...
    def state_changed(self) -> None: ...


@dataclass
class Progress:
    job_id: str = ""
    stage: str = ""
    fraction: float = 0.0
    message: str = ""


class Daemon:
    def __init__(self, cfg: Config, config_path: Path | None, queue: JobQueue, events: Events,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.cfg = cfg
        self.config_path = config_path
        self.queue = queue
        self.events = events
        self.loop = loop
        self.pipeline: Pipeline | None = None
        self.load_error: str | None = None
        self.progress = Progress()
        self.stopping = False
        self.last_result: dict[str, Any] = queue.get_value("last_result", {})
        self._wake = threading.Event()
        self._cancel = threading.Event()
        self._hand_back = False
        self._reload_models = False
        self._worker: threading.Thread | None = None

    # -- state --------------------------------------------------------------------------

    @property
    def paused(self) -> bool:
        return bool(self.queue.get_value("paused", False))

    @property
    def state(self) -> str:
        if self.stopping:
            return STOPPING
        if self.pipeline is None:
            return LOADING
        if self.progress.job_id:
            return BUSY
        return PAUSED if self.paused else IDLE

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "state": self.state,
            "paused": self.paused,
            "model": self.cfg.model.source,
            "queue_length": self.queue.count(QUEUED),
            "last_result": self.last_result,
        }
        upcoming = self.next_rotation()
        if upcoming is not None:
            status["next_rotation"] = upcoming.isoformat(timespec="seconds")
        if self.pipeline is not None:
            status["device"] = str(self.pipeline.device)
            status["vram_gib"] = _vram_in_use(self.pipeline.device)
        if self.load_error:
            status["load_error"] = self.load_error
        if self.progress.job_id:
            status["job"] = self.progress.job_id
            status["stage"] = self.progress.stage
            status["progress"] = round(self.progress.fraction, 4)
        return status

    # -- requests (loop thread) ---------------------------------------------------------

    def schedule(self) -> tuple[time | None, timedelta | None]:
        s = self.cfg.schedule
        return (parse_clock(s.daily) if s.daily else None,
                parse_duration(s.interval) if s.interval else None)

    def next_rotation(self) -> datetime | None:
        daily, interval = self.schedule()
        return next_due(datetime.now().astimezone(), local_time(self.queue.get_value("last_rotation")),
                        daily, interval)

    def announce_queued(self, job_id: str, origin: str) -> None:
        """A job was added by someone else (the inbox): tell clients, wake the worker."""
        self.events.job_queued(job_id, origin)
        self.events.state_changed()
        self._wake.set()

    def submit(self, options: dict[str, Any], origin: str) -> str:
        """Queue a job from ``Now`` options; RequestError names what is wrong."""
        unknown = sorted(set(options) - set(NOW_OPTIONS))
        if unknown:
            raise RequestError(ERR_UNKNOWN_OPTION, f"unknown option(s): {', '.join(unknown)}",
                               fix=f"use: {', '.join(NOW_OPTIONS)}")
        request: dict[str, Any] = {}
        for key in ("prompt", "negative"):
            if key in options:
                if not isinstance(options[key], str) or not options[key].strip():
                    raise RequestError(ERR_INVALID_ARGS, f"option '{key}' must be non-empty text")
                request[key] = options[key].strip()
        if "theme" in options:
            request["theme"] = _known_theme(options["theme"])
        if "seed" in options:
            seed = options["seed"]
            if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
                raise RequestError(ERR_INVALID_ARGS, f"option 'seed' must be 0..2**63-1, got {seed!r}")
            request["seed"] = seed
        if "image" in options:
            request["image"] = str(_readable_picture(options["image"]))
        job_id = self.queue.add(request, origin)
        log.info("job queued", job=job_id, origin=origin)
        self.announce_queued(job_id, origin)
        return job_id

    def cancel(self, job_id: str) -> None:
        job = self.queue.get(job_id)
        if job is None:
            raise RequestError(ERR_UNKNOWN_JOB, f"no job '{job_id}'",
                               fix="see `wallpaperctl jobs` for the ids")
        if job.state == QUEUED and self.queue.cancel_queued(job_id):
            self.events.job_failed(job_id, "", "cancelled")
        elif job.state == RUNNING and self.progress.job_id == job_id:
            self._cancel.set()
        else:
            raise RequestError(ERR_JOB_FINISHED, f"job '{job_id}' is already {job.state}")
        self.events.state_changed()

    def pause(self) -> None:
        self.queue.set_value("paused", True)
        self.events.state_changed()

    def resume(self) -> None:
        self.queue.set_value("paused", False)
        self._wake.set()
        self.events.state_changed()

    def themes(self) -> dict[str, Any]:
        """Every theme's chance now and why (``wallpaperctl themes``)."""
        state = state_dir(self.cfg.paths.state)
        return themes_now(self.cfg, state, recent_themes(state, self.cfg.themes.recent_count))

    def set_wallpaper(self, path: str) -> dict[str, Any]:
        """``SetWallpaper``/``wallpaperctl set``: the same path a job ends with (blocking)."""
        picture = _readable_picture(path)
        return set_wallpaper(picture, self.cfg.desktop)

    def reload(self) -> dict[str, Any]:
        """Parse, compare, swap. On error the old config stays and the error says why."""
        new = load_config(self.config_path)  # ConfigError propagates to the caller
        old = self.cfg
        if new == old:
            return {"changed": False, "models": False}
        models = models_changed(old, new)
        self.cfg = new
        if models:
            self._reload_models = True
            self._wake.set()
        log.info("configuration reloaded", models_reload=models)
        self.events.state_changed()
        return {"changed": True, "models": models}

    # -- worker (its own thread) --------------------------------------------------------

    def start_worker(self) -> None:
        self._worker = threading.Thread(target=self._work, name="gpu-worker", daemon=True)
        self._worker.start()

    def load_models(self) -> None:
        """Load the pipeline (called in a thread; the loop goes on answering)."""
        try:
            self.pipeline = Pipeline(self.cfg)
            self.load_error = None
        except WallpaperdError as exc:
            self.load_error = str(exc)
            raise
        finally:
            self._emit(self.events.state_changed)

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful stop: the running job stops at its next step and goes back to the queue."""
        self.stopping = True
        self._hand_back = True
        self._cancel.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join(timeout)

    def _work(self) -> None:
        while not self.stopping:
            if self._reload_models:
                self._reload_models = False
                self._load_in_worker()
            if self.pipeline is None or self.paused:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            job = self.queue.take_next()
            if job is None:
                self._wake.wait(5.0)
                self._wake.clear()
                continue
            self._run(job)

    def _load_in_worker(self) -> None:
        try:
            self.pipeline = None
            self._emit(self.events.state_changed)
            self.load_models()
        except WallpaperdError as exc:
            log.error("reloading the models failed", error=str(exc))

    def _run(self, job: Job) -> None:
        self._cancel.clear()
        self.progress = Progress(job.id, "plan", 0.0, "")
        self._emit(self.events.state_changed)
        cfg = self.cfg
        request = job.request
        stage = "plan"
        try:
            if request.get("overrides"):
                cfg = apply_overrides(cfg, request["overrides"])
            image = Path(request["image"]) if request.get("image") else None
            state = state_dir(cfg.paths.state)
            plan = plan_job(cfg, state, prompt=request.get("prompt"), negative=request.get("negative"),
                            seed=request.get("seed"), theme=request.get("theme"),
                            image=image is not None,
                            recent=recent_themes(state, cfg.themes.recent_count))
            pipeline_request = JobRequest(prompt=plan.prompt, negative_prompt=plan.negative,
                                          seed=plan.seed, image=image, plan=plan.record,
                                          loras=plan.loras)

            def progress(name: str, done: int, total: int) -> None:
                nonlocal stage
                stage = name
                self.progress = Progress(job.id, name, done / max(total, 1), f"{done}/{total}")
                self._emit(self.events.job_progress, job.id, name, self.progress.fraction,
                           self.progress.message)

            result = self.pipeline.run(pipeline_request, progress=progress, cancel=self._cancel,
                                       cfg=cfg)
            stage = "save"
            out = unique_path(output_dir(cfg.output.dir), result.metadata["seed"])
            save_result(result, out, cfg.output.metadata, cfg.output.save_stages)
            stage = "set"
            self.progress = Progress(job.id, "set", 1.0, "")
            try:
                result.metadata["desktop"] = set_wallpaper(out, cfg.desktop)
                add_to_sidecar(out, "desktop", result.metadata["desktop"])
            except DesktopError as exc:
                exc.stage = "set"
                exc.message = f"{exc.message} (the picture is saved at {out})"
                raise
        except CancelledError:
            if self._hand_back:
                self.queue.hand_back(job.id)
                log.info("job handed back to the queue", job=job.id)
            else:
                self.queue.finish(job.id, CANCELLED, stage=stage, error="cancelled")
                self._emit(self.events.job_failed, job.id, stage, "cancelled")
        except Exception as exc:  # a failing job never kills the daemon
            self._failed(job, getattr(exc, "stage", stage), exc)
        else:
            self.queue.finish(job.id, DONE, output=str(out), metadata=result.metadata,
                              stage="downsample")
            self.last_result = {"job": job.id, "state": DONE, "path": str(out)}
            self.queue.set_value("last_result", self.last_result)
            log.info("job done", job=job.id, path=str(out))
            self._emit(self.events.job_finished, job.id, str(out))
        finally:
            self.progress = Progress()
            self._emit(self.events.state_changed)

    def _failed(self, job: Job, stage: str, exc: Exception) -> None:
        reason = str(exc).splitlines()[0] if isinstance(exc, WallpaperdError) else \
            f"{type(exc).__name__}: {exc}"
        details = {"diagnostics": getattr(exc, "diagnostics", None), "fix": getattr(exc, "fix", None),
                   "traceback": traceback.format_exception(exc)}
        self.queue.finish(job.id, FAILED, stage=stage, error=reason, metadata=details)
        self.last_result = {"job": job.id, "state": FAILED, "stage": stage, "error": reason}
        self.queue.set_value("last_result", self.last_result)
        log.error("job failed", job=job.id, stage=stage, error=reason)
        self._emit(self.events.job_failed, job.id, stage, reason)

    def _emit(self, fn, *args) -> None:
        self.loop.call_soon_threadsafe(fn, *args)


def models_changed(old: Config, new: Config) -> bool:
    if any(getattr(old, s) != getattr(new, s) for s in MODEL_SECTIONS):
        return True
    return any(getattr(getattr(old, s), k) != getattr(getattr(new, s), k) for s, k in MODEL_KEYS)


def _readable_picture(value: Any) -> Path:
    if not isinstance(value, str) or not value:
        raise RequestError(ERR_INVALID_ARGS, "option 'image' must be a file path")
    path = Path(value).expanduser()
    if not path.is_absolute():
        raise RequestError(ERR_BAD_PATH, f"image path '{value}' is relative",
                           fix="give an absolute path (wallpaperctl does this for you)")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise RequestError(ERR_BAD_PATH, f"'{value}' is not a PNG, JPEG or WebP picture")
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise RequestError(ERR_BAD_PATH, f"cannot read '{value}': {exc.strerror}") from exc
    return path


def _vram_in_use(device) -> float:
    if device.type != "cuda":
        return 0.0
    import torch

    return round(torch.cuda.memory_allocated(device) / 1024**3, 3)



def local_time(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp).astimezone()


def _known_theme(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise RequestError(ERR_INVALID_ARGS, "option 'theme' must be a theme id")
    themes = library().themes()
    if value not in themes:
        raise RequestError(ERR_INVALID_ARGS, f"unknown theme '{value}'",
                           fix="see `wallpaperctl themes` for the ids")
    return value

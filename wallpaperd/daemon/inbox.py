"""The watched inbox: every accepted file becomes exactly one job; nothing is lost.

Accepting is crash-safe without a two-phase protocol: the file is first renamed into
``accepted/`` under the name ``<job id>--<original name>`` (an atomic rename in one
folder tree), then the job is inserted with that id. If the daemon dies between the
two, the start-up scan finds an accepted file whose id has no job and creates it; if it
dies before the rename, the file is still in the inbox and is read again. Rejected
files move to ``rejected/`` with ``NAME.error.txt`` beside them.

watchdog reports created, written, closed-after-write and moved-in files from its own
thread; events are handed to the asyncio loop and debounced per file there: a file is
read once it has been quiet for ``inbox.debounce_seconds``.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Callable

import structlog
from watchdog.events import FileClosedEvent, FileMovedEvent, FileSystemEventHandler
from watchdog.observers import Observer

from ..config import Config
from .prompt_file import Rejection, is_candidate, read_request
from .queue import JobQueue, new_job_id

log = structlog.get_logger(__name__)
SEPARATOR = "--"


class Inbox:
    def __init__(self, folder: Path, queue: JobQueue, config: Callable[[], Config],
                 on_job: Callable[[str, str], None] = lambda job_id, origin: None) -> None:
        self.folder = folder
        self.accepted = folder / "accepted"
        self.rejected = folder / "rejected"
        self.queue = queue
        self.config = config
        self.on_job = on_job
        for path in (self.folder, self.accepted, self.rejected):
            path.mkdir(parents=True, exist_ok=True)
        self._observer: Observer | None = None
        self._pending: dict[Path, asyncio.TimerHandle] = {}

    # -- processing ---------------------------------------------------------------------

    def scan(self) -> list[str]:
        """Start-up: finish interrupted acceptances, then take every file already waiting."""
        jobs = []
        for path in sorted(self.accepted.iterdir()):
            job_id, sep, _name = path.name.partition(SEPARATOR)
            if sep and path.is_file() and self.queue.get(job_id) is None:
                jobs.append(self._requeue_accepted(path, job_id))
        for path in sorted(self.folder.iterdir()):
            if path.is_file() or path.is_symlink():
                job_id = self.handle(path)
                if job_id:
                    jobs.append(job_id)
        return [j for j in jobs if j]

    def handle(self, path: Path) -> str | None:
        """Accept or reject one file; returns the new job id (None if rejected or gone)."""
        if path.parent != self.folder or not is_candidate(path):
            return None
        try:
            request = read_request(path, self.config())
        except FileNotFoundError:
            return None
        except Rejection as exc:
            self._reject(path, exc)
            return None
        return self._accept(path, request)

    def _accept(self, path: Path, request: dict) -> str:
        job_id = new_job_id()
        target = self.accepted / f"{job_id}{SEPARATOR}{path.name}"
        os.rename(path, target)
        request = _pointing_at(request, path, target)
        self.queue.add(request, "inbox", job_id)
        log.info("inbox file accepted", file=path.name, job=job_id)
        self.on_job(job_id, "inbox")
        return job_id

    def _requeue_accepted(self, path: Path, job_id: str) -> str | None:
        try:
            request = read_request(path, self.config())
        except Rejection as exc:
            self._reject(path, exc)
            return None
        request = _pointing_at(request, path, path)
        self.queue.add(request, "inbox", job_id)
        log.warning("inbox file was accepted but its job was lost in a crash; job created",
                    file=path.name, job=job_id)
        self.on_job(job_id, "inbox")
        return job_id

    def _reject(self, path: Path, reason: Rejection) -> None:
        name = path.name.partition(SEPARATOR)[2] if path.parent == self.accepted else path.name
        target = _free_name(self.rejected / name)
        os.rename(path, target)
        text = f"{name} was not accepted: {reason.message}\nfix: {reason.fix or '-'}\n"
        (target.parent / f"{target.name}.error.txt").write_text(text, encoding="utf-8")
        log.warning("inbox file rejected", file=name, reason=reason.message)

    # -- watching -----------------------------------------------------------------------

    def watch(self, loop: asyncio.AbstractEventLoop) -> None:
        handler = _Events(lambda path: loop.call_soon_threadsafe(self._debounce, loop, path))
        self._observer = Observer()
        self._observer.schedule(handler, str(self.folder), recursive=False)
        self._observer.start()

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None
        for handle in self._pending.values():
            handle.cancel()
        self._pending.clear()

    def _debounce(self, loop: asyncio.AbstractEventLoop, path: Path) -> None:
        if path in self._pending:
            self._pending[path].cancel()
        delay = self.config().inbox.debounce_seconds
        self._pending[path] = loop.call_later(delay, self._fire, path)

    def _fire(self, path: Path) -> None:
        self._pending.pop(path, None)
        delay = self.config().inbox.debounce_seconds
        try:
            age = time.time() - path.lstat().st_mtime
        except FileNotFoundError:
            return
        if age < delay:  # still being written (a created or moved-in file gives no close event)
            loop = asyncio.get_running_loop()
            self._pending[path] = loop.call_later(delay - age + 0.05, self._fire, path)
            return
        try:
            self.handle(path)
        except OSError as exc:  # the file vanished or the disk failed; the daemon goes on
            log.error("inbox file could not be processed", file=str(path), error=str(exc))


class _Events(FileSystemEventHandler):
    """Close-after-write, created (also: moved in from another folder), written, moved."""

    def __init__(self, notify: Callable[[Path], None]) -> None:
        self.notify = notify

    def on_created(self, event) -> None:
        if not event.is_directory:
            self.notify(Path(os.fsdecode(event.src_path)))

    def on_modified(self, event) -> None:
        if not event.is_directory:
            self.notify(Path(os.fsdecode(event.src_path)))

    def on_closed(self, event) -> None:
        if isinstance(event, FileClosedEvent) and not event.is_directory:
            self.notify(Path(os.fsdecode(event.src_path)))

    def on_moved(self, event) -> None:
        if isinstance(event, FileMovedEvent) and not event.is_directory:
            self.notify(Path(os.fsdecode(event.dest_path)))


def _pointing_at(request: dict, old: Path, new: Path) -> dict:
    request = dict(request, source_file=str(new))
    if request.get("image") == str(old):
        request["image"] = str(new)
    return request


def _free_name(path: Path) -> Path:
    candidate, n = path, 2
    while candidate.exists() or candidate.is_symlink():
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return candidate

"""The crash-safe job queue and history: one SQLite database (WAL) in the state folder.

States: ``queued → running → done | failed | cancelled``. A job is marked ``running``
(and its attempt counted) in the same transaction that picks it, so after a crash the
jobs still ``running`` are exactly the interrupted ones: ``recover()`` puts them back in
the queue, or fails them once they have been interrupted ``MAX_ATTEMPTS`` times. A
graceful stop (SIGTERM) hands the job back without counting the attempt.

A small key/value table keeps daemon state that must survive restarts (pause, the last
rotation).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..protocol import CANCELLED, DONE, FAILED, FINAL_STATES, QUEUED, RUNNING

MAX_ATTEMPTS = 3

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id        TEXT PRIMARY KEY,
    state     TEXT NOT NULL,
    origin    TEXT NOT NULL,
    request   TEXT NOT NULL,
    attempts  INTEGER NOT NULL DEFAULT 0,
    created   REAL NOT NULL,
    started   REAL,
    finished  REAL,
    stage     TEXT,
    error     TEXT,
    output    TEXT,
    metadata  TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, created);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Job:
    id: str
    state: str
    origin: str
    request: dict[str, Any]
    attempts: int
    created: float
    started: float | None
    finished: float | None
    stage: str | None
    error: str | None
    output: str | None
    metadata: dict[str, Any] | None

    def summary(self) -> dict[str, Any]:
        """What clients see (no metadata blob): plain types for D-Bus and JSON."""
        out = {
            "id": self.id, "state": self.state, "origin": self.origin,
            "attempts": self.attempts, "created": self.created,
            "prompt": self.request.get("prompt") or "",
        }
        for key in ("started", "finished", "stage", "error", "output"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.request.get("image"):
            out["image"] = self.request["image"]
        if self.request.get("seed") is not None:
            out["seed"] = int(self.request["seed"])
        return out


class JobQueue:
    """All access to the database; safe to share between the loop and the worker thread."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- jobs ---------------------------------------------------------------------------

    def add(self, request: dict[str, Any], origin: str, job_id: str | None = None) -> str:
        job_id = job_id or new_job_id()
        with self._tx() as db:
            db.execute(
                "INSERT INTO jobs (id, state, origin, request, created) VALUES (?, ?, ?, ?, ?)",
                (job_id, QUEUED, origin, json.dumps(request), time.time()),
            )
        return job_id

    def take_next(self) -> Job | None:
        """The oldest queued job, marked running with its attempt counted (one transaction)."""
        with self._tx() as db:
            row = db.execute(
                "SELECT id FROM jobs WHERE state = ? ORDER BY created, rowid LIMIT 1", (QUEUED,)
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET state = ?, attempts = attempts + 1, started = ?, stage = NULL "
                "WHERE id = ?", (RUNNING, time.time(), row["id"]))
        return self.get(row["id"])

    def set_stage(self, job_id: str, stage: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE jobs SET stage = ? WHERE id = ?", (stage, job_id))

    def finish(self, job_id: str, state: str, *, output: str | None = None,
               metadata: dict[str, Any] | None = None, stage: str | None = None,
               error: str | None = None) -> None:
        if state not in FINAL_STATES:
            raise ValueError(f"not a final state: {state}")
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET state = ?, finished = ?, output = ?, metadata = ?, "
                "stage = COALESCE(?, stage), error = ? WHERE id = ?",
                (state, time.time(), output, json.dumps(metadata) if metadata else None, stage,
                 error, job_id),
            )

    def hand_back(self, job_id: str) -> None:
        """A gracefully interrupted job goes back to the queue; the attempt does not count."""
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET state = ?, attempts = MAX(attempts - 1, 0), started = NULL "
                "WHERE id = ? AND state = ?", (QUEUED, job_id, RUNNING))

    def recover(self) -> tuple[list[str], list[str]]:
        """After a crash: requeue interrupted jobs, or fail those out of attempts."""
        requeued, failed = [], []
        with self._tx() as db:
            for row in db.execute("SELECT id, attempts FROM jobs WHERE state = ?", (RUNNING,)).fetchall():
                if row["attempts"] >= MAX_ATTEMPTS:
                    db.execute(
                        "UPDATE jobs SET state = ?, finished = ?, error = ? WHERE id = ?",
                        (FAILED, time.time(),
                         f"interrupted {row['attempts']} times (the daemon stopped or crashed "
                         "during this job each time); not retried again", row["id"]))
                    failed.append(row["id"])
                else:
                    db.execute("UPDATE jobs SET state = ?, started = NULL WHERE id = ?",
                               (QUEUED, row["id"]))
                    requeued.append(row["id"])
        return requeued, failed

    def cancel_queued(self, job_id: str) -> bool:
        with self._tx() as db:
            changed = db.execute(
                "UPDATE jobs SET state = ?, finished = ?, error = 'cancelled' WHERE id = ? AND state = ?",
                (CANCELLED, time.time(), job_id, QUEUED)).rowcount
        return bool(changed)

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row else None

    def active(self) -> list[Job]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM jobs WHERE state IN (?, ?) ORDER BY created, rowid", (RUNNING, QUEUED)
            ).fetchall()
        return [_job(r) for r in rows]

    def history(self, limit: int) -> list[Job]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM jobs WHERE state IN (?, ?, ?) ORDER BY finished DESC, rowid DESC "
                "LIMIT ?", (*FINAL_STATES, limit)).fetchall()
        return [_job(r) for r in rows]

    def count(self, state: str) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM jobs WHERE state = ?", (state,)).fetchone()[0]

    def ids_with_prefix(self, prefix: str) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT id FROM jobs WHERE id LIKE ?", (prefix + "%",)).fetchall()
        return [r["id"] for r in rows]

    # -- daemon state -------------------------------------------------------------------

    def get_value(self, key: str, default: Any = None) -> Any:
        with self._lock:
            row = self._db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return json.loads(row["value"]) if row else default

    def set_value(self, key: str, value: Any) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO kv (key, value) VALUES (?, ?) "
                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                       (key, json.dumps(value)))

    # -- internals ----------------------------------------------------------------------

    def _tx(self):
        return _Transaction(self._db, self._lock)


class _Transaction:
    def __init__(self, db: sqlite3.Connection, lock: threading.Lock) -> None:
        self._db, self._lock = db, lock

    def __enter__(self) -> sqlite3.Connection:
        self._lock.acquire()
        self._db.execute("BEGIN IMMEDIATE")
        return self._db

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self._db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self._lock.release()


def new_job_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]


def _job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"], state=row["state"], origin=row["origin"], request=json.loads(row["request"]),
        attempts=row["attempts"], created=row["created"], started=row["started"],
        finished=row["finished"], stage=row["stage"], error=row["error"], output=row["output"],
        metadata=json.loads(row["metadata"]) if row["metadata"] else None,
    )


__all__ = ["CANCELLED", "DONE", "FAILED", "Job", "JobQueue", "MAX_ATTEMPTS", "QUEUED", "RUNNING",
           "new_job_id"]

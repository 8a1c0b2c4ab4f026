"""The job queue on a real SQLite file, including a process killed mid-job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from wallpaperd.daemon.queue import MAX_ATTEMPTS, JobQueue
from wallpaperd.protocol import CANCELLED, DONE, FAILED, QUEUED, RUNNING


def test_jobs_run_in_order_and_land_in_history(tmp_path):
    q = JobQueue(tmp_path / "jobs.db")
    first = q.add({"prompt": "one"}, "ctl")
    second = q.add({"prompt": "two", "seed": 4}, "inbox")
    assert [j.id for j in q.active()] == [first, second]

    job = q.take_next()
    assert job.id == first and job.state == RUNNING and job.attempts == 1
    q.finish(first, DONE, output="/x.png", metadata={"seed": 1}, stage="downsample")
    assert q.get(first).output == "/x.png" and q.get(first).metadata == {"seed": 1}
    assert q.take_next().id == second
    q.finish(second, FAILED, stage="enhance", error="boom")
    history = q.history(10)
    assert [j.id for j in history] == [second, first]
    assert history[0].summary()["error"] == "boom" and history[0].summary()["seed"] == 4
    assert q.take_next() is None


def test_cancel_only_touches_queued_jobs(tmp_path):
    q = JobQueue(tmp_path / "jobs.db")
    a, b = q.add({}, "ctl"), q.add({}, "ctl")
    q.take_next()
    assert not q.cancel_queued(a)  # running: the worker must stop it
    assert q.cancel_queued(b) and q.get(b).state == CANCELLED


def test_graceful_hand_back_does_not_count_an_attempt(tmp_path):
    q = JobQueue(tmp_path / "jobs.db")
    job_id = q.add({}, "ctl")
    q.take_next()
    q.hand_back(job_id)
    job = q.get(job_id)
    assert job.state == QUEUED and job.attempts == 0


def test_state_survives_reopening(tmp_path):
    q = JobQueue(tmp_path / "jobs.db")
    q.set_value("paused", True)
    q.set_value("last_rotation", 1234.5)
    q.close()
    again = JobQueue(tmp_path / "jobs.db")
    assert again.get_value("paused") is True and again.get_value("last_rotation") == 1234.5
    assert again.get_value("missing", "default") == "default"


def kill_while_running(db, job_id=None):
    """A real process takes the next job and is SIGKILLed while 'running' it."""
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from wallpaperd.daemon.queue import JobQueue
        q = JobQueue(Path({str(db)!r}))
        q.take_next()
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], env=os.environ.copy())
    assert proc.returncode == -signal.SIGKILL


def test_crash_requeues_then_fails_after_max_attempts(tmp_path):
    db = tmp_path / "jobs.db"
    job_id = JobQueue(db).add({"prompt": "x"}, "ctl")
    for attempt in range(1, MAX_ATTEMPTS + 1):
        kill_while_running(db)
        q = JobQueue(db)
        assert q.get(job_id).state == RUNNING and q.get(job_id).attempts == attempt
        requeued, failed = q.recover()
        q.close()
        if attempt < MAX_ATTEMPTS:
            assert requeued == [job_id] and failed == []
        else:
            assert requeued == [] and failed == [job_id]
    job = JobQueue(db).get(job_id)
    assert job.state == FAILED and f"interrupted {MAX_ATTEMPTS} times" in job.error


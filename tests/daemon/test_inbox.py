"""The inbox: real files, real watchdog, real SQLite; every file ends up accepted or explained."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from PIL import Image

from wallpaperd.config import config_from_mapping
from wallpaperd.daemon.inbox import Inbox
from wallpaperd.daemon.queue import JobQueue
from wallpaperd.daemon.prompt_file import apply_overrides

from ..conftest import small_mapping

CFG = config_from_mapping(small_mapping(inbox__debounce_seconds=0.2, inbox__max_image_pixels=100_000))


@pytest.fixture
def inbox(tmp_path):
    queue = JobQueue(tmp_path / "state" / "jobs.db")
    return Inbox(tmp_path / "inbox", queue, lambda: CFG)


def drop(inbox: Inbox, name: str, content: str | bytes) -> Path:
    path = inbox.folder / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def picture(path: Path, size=(64, 48)) -> Path:
    Image.new("RGB", size, (200, 120, 40)).save(path)
    return path


def error_text(inbox: Inbox, name: str) -> str:
    return (inbox.rejected / f"{name}.error.txt").read_text()


def test_text_file_becomes_one_job_and_moves_to_accepted(inbox):
    drop(inbox, "morning.txt", "  a misty forest at dawn \n")
    job_id = inbox.handle(inbox.folder / "morning.txt")
    job = inbox.queue.get(job_id)
    assert job.request["prompt"] == "a misty forest at dawn" and job.origin == "inbox"
    accepted = inbox.accepted / f"{job_id}--morning.txt"
    assert accepted.read_text() == "  a misty forest at dawn \n"
    assert job.request["source_file"] == str(accepted)
    assert not (inbox.folder / "morning.txt").exists()


def test_yaml_file_with_options_and_overrides(inbox):
    drop(inbox, "job.yaml", "prompt: a lighthouse\nnegative_prompt: fog\nseed: 42\n"
                            "overrides:\n  enhance:\n    strength: 0.3\n")
    job = inbox.queue.get(inbox.handle(inbox.folder / "job.yaml"))
    assert job.request == {"prompt": "a lighthouse", "negative": "fog", "seed": 42,
                           "overrides": {"enhance": {"strength": 0.3}},
                           "source_file": job.request["source_file"]}
    assert apply_overrides(CFG, job.request["overrides"]).enhance.strength == 0.3


def test_picture_becomes_an_enhance_job_pointing_at_the_accepted_copy(inbox):
    picture(inbox.folder / "photo.png")
    job = inbox.queue.get(inbox.handle(inbox.folder / "photo.png"))
    assert job.request["image"] == job.request["source_file"]
    assert Path(job.request["image"]).parent == inbox.accepted and Path(job.request["image"]).is_file()


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("empty.txt", "   \n", "the prompt file is empty"),
        ("notes.md", "hello", "'.md' files are not understood"),
        ("big.txt", "x" * 70_000, "prompt files may be at most 65536"),
        ("latin1.txt", b"caf\xe9", "not UTF-8"),
        ("bad.yaml", "prompt: [unclosed\n", "not valid YAML"),
        ("list.yaml", "- a\n- b\n", "must be a mapping"),
        ("typo.yaml", "prompt: x\nsteps: 40\n", "unknown key(s): steps"),
        ("noprompt.yaml", "seed: 3\n", "neither 'prompt' nor 'theme'"),
        ("theme.yaml", "theme: no_such_theme\n", "unknown theme 'no_such_theme'"),
        ("seed.yaml", "prompt: x\nseed: -1\n", "'seed' must be a whole number"),
        ("bomb.yaml", "a: &a [x, x]\nb: &b [*a, *a]\nprompt: *b\n", "anchors, aliases and tags"),
        ("tag.yaml", "prompt: !!python/object:os.system ls\n", "anchors, aliases and tags"),
        ("model.yaml", "prompt: x\noverrides:\n  model:\n    source: /etc/passwd\n",
         "override 'model' is not allowed"),
        ("range.yaml", "prompt: x\noverrides:\n  enhance:\n    strength: 7\n", "bad override"),
        ("loras.yaml", "prompt: x\nloras: [detail]\n", "'loras' is not supported yet"),
        ("broken.png", b"\x89PNG\r\n\x1a\n garbage", "the picture cannot be read"),
    ],
)
def test_bad_files_are_rejected_with_a_reason_and_kept(inbox, name, content, reason):
    drop(inbox, name, content)
    assert inbox.handle(inbox.folder / name) is None
    assert (inbox.rejected / name).read_bytes() == (content.encode() if isinstance(content, str) else content)
    text = error_text(inbox, name)
    assert reason in text and "fix:" in text
    assert inbox.queue.active() == []


def test_huge_picture_is_rejected_before_decoding(inbox):
    picture(inbox.folder / "huge.png", size=(400, 300))  # 120,000 pixels > the 100,000 limit
    assert inbox.handle(inbox.folder / "huge.png") is None
    assert "400x300 = 120000 pixels" in error_text(inbox, "huge.png")


def test_symlinks_are_not_followed(inbox, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("a prompt from outside")
    os.symlink(secret, inbox.folder / "link.txt")
    assert inbox.handle(inbox.folder / "link.txt") is None
    assert "symbolic link" in error_text(inbox, "link.txt")
    assert secret.read_text() == "a prompt from outside"


def test_rejected_names_never_overwrite_each_other(inbox):
    for _ in range(2):
        drop(inbox, "empty.txt", "")
        inbox.handle(inbox.folder / "empty.txt")
    assert (inbox.rejected / "empty.txt").exists() and (inbox.rejected / "empty-2.txt").exists()


def test_partial_and_hidden_files_are_left_alone(inbox):
    for name in (".hidden.txt", "download.txt.part", "edit.txt~"):
        drop(inbox, name, "x")
        assert inbox.handle(inbox.folder / name) is None
        assert (inbox.folder / name).exists()


def test_startup_scan_takes_waiting_files_and_finishes_interrupted_acceptances(inbox):
    drop(inbox, "waiting.txt", "a waiting prompt")
    # A crash between the rename into accepted/ and the job insert:
    orphan = inbox.accepted / "20261129-070000-abcdef--orphan.txt"
    orphan.write_text("an orphaned prompt")
    jobs = inbox.scan()
    assert len(jobs) == 2 and "20261129-070000-abcdef" in jobs
    assert inbox.queue.get("20261129-070000-abcdef").request["prompt"] == "an orphaned prompt"
    assert inbox.scan() == []  # nothing twice
    assert len(inbox.queue.active()) == 2


def test_watcher_takes_files_written_and_moved_in(inbox, tmp_path):
    async def scenario():
        inbox.watch(asyncio.get_running_loop())
        try:
            with open(inbox.folder / "written.txt", "w") as handle:
                handle.write("a prompt written ")
                handle.flush()
                await asyncio.sleep(0.05)
                handle.write("in two parts")
            outside = tmp_path / "moved.txt"
            outside.write_text("a prompt moved in")
            os.rename(outside, inbox.folder / "moved.txt")
            for _ in range(50):
                await asyncio.sleep(0.1)
                if len(inbox.queue.active()) == 2:
                    break
        finally:
            inbox.stop()

    asyncio.run(scenario())
    prompts = sorted(job.request["prompt"] for job in inbox.queue.active())
    assert prompts == ["a prompt moved in", "a prompt written in two parts"]
    assert sorted(p.name.partition("--")[2] for p in inbox.accepted.iterdir()) == ["moved.txt", "written.txt"]

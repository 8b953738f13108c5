"""`status --watch` and `list --watch`: frames until Ctrl-C, which ends the watch with exit
0 and no traceback; redrawn in place on a terminal, a blank line apart in a pipe."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable

from tests.cli.conftest import Run

HOME = b"\x1b[H"  # where each frame on a terminal starts


def _start(db: str, args: list[str], stdout: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "QUEUECTL_DB": db, "NO_COLOR": "1", "COLUMNS": "80"}
    return subprocess.Popen(
        [sys.executable, "-m", "queuectl", *args], stdout=stdout, stderr=subprocess.PIPE, env=env
    )


def _read_until(fd: int, done: Callable[[bytes], bool], timeout: float = 60) -> bytes:
    """What `fd` gives until `done` holds for all of it (or the process closes it)."""
    data = b""
    deadline = time.monotonic() + timeout
    while not done(data):
        left = deadline - time.monotonic()
        assert left > 0, f"timed out; got {data!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: a terminal whose other side is closed
            chunk = b""
        if not chunk:
            break
        data += chunk
    return data


def _interrupt(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C, as a terminal sends it; the watch must end cleanly with exit 0."""
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0
    assert process.stderr is not None
    stderr = process.stderr.read().decode()
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr


def test_list_watch_in_a_pipe_prints_whole_frames_a_blank_line_apart(run: Run, db: str) -> None:
    job_id = run("enqueue", "--", "echo", "hello").ok().stdout.strip()
    process = _start(db, ["list", "--watch", "0.05"], subprocess.PIPE)
    assert process.stdout is not None
    fd = process.stdout.fileno()
    data = _read_until(fd, lambda got: got.count(b"echo hello\n") >= 3)
    _interrupt(process)
    data += _read_until(fd, lambda got: False)  # the rest, up to the end of the output
    frames = [frame.strip("\n") for frame in data.decode().split("\n\n") if frame.strip()]
    assert len(frames) >= 3
    assert all(frame == frames[0] for frame in frames), frames
    header, row = frames[0].splitlines()
    assert header.startswith("ID") and row.startswith(job_id)
    assert HOME not in data


def test_status_watch_alone_redraws_every_two_seconds(db: str) -> None:
    process = _start(db, ["status", "--watch", "--queue", "default"], subprocess.PIPE)
    assert process.stdout is not None
    started = time.monotonic()
    data = _read_until(process.stdout.fileno(), lambda got: got.count(b"Workers alive") >= 2)
    assert time.monotonic() - started >= 2  # the default interval
    _interrupt(process)
    assert data.count(b"\nJobs\n") == 1 and data.startswith(b"Jobs\n")


def test_on_a_terminal_each_frame_replaces_the_last(run: Run, db: str) -> None:
    run("enqueue", "--", "echo", "hello").ok()
    leader, follower = pty.openpty()
    try:
        process = _start(db, ["status", "--watch", "0.05"], follower)
        os.close(follower)
        data = _read_until(leader, lambda got: got.count(HOME) >= 3)
        _interrupt(process)
    finally:
        os.close(leader)
    frames = data.split(HOME)
    assert frames[0] == b""  # each frame is drawn from the top of the screen
    assert b"pending     1" in frames[1]


def test_watch_is_not_for_json(run: Run) -> None:
    run("status", "--watch", "--json").error("--watch", "--json", code=2)
    run("list", "--json", "--watch", "1").error("--watch", "--json", code=2)

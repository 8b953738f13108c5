"""Tables never lose information: only free text shrinks, and only on a narrow terminal;
everyday listings fit 80 columns, and --wide shows every column in full."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime

from tests.cli.conftest import Run

LONG_ID = "a-very-long-identifier-of-forty-one-chars"
LONG_COMMAND = "echo " + " ".join(f"word{i}" for i in range(40))
HEADERS = ["ID", "STATE", "ATTEMPTS", "PRI", "QUEUE", "UPDATED", "RUN AT", "COMMAND"]


def _fill(run: Run) -> None:
    spec = f'{{"id":"{LONG_ID}","command":"{LONG_COMMAND}","queue":"reports"}}'
    assert run("enqueue", "--delay", "2h", spec).exit_code == 0
    assert run("enqueue", '{"id":"b","command":"true","priority":7}').exit_code == 0


def test_in_a_pipe_nothing_is_cut(run: Run) -> None:
    _fill(run)
    done = run("list", env={"COLUMNS": "80"})
    assert done.exit_code == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert all(name in header for name in HEADERS)
    assert LONG_ID in done.stdout
    assert LONG_COMMAND in done.stdout
    assert "…" not in done.stdout
    assert len(rows) == 2


def _in_a_terminal(db: str, columns: int, *args: str) -> str:
    """Run queuectl with its stdout on a pseudo-terminal `columns` wide."""
    leader, follower = pty.openpty()
    env = {**os.environ, "QUEUECTL_DB": db, "COLUMNS": str(columns), "NO_COLOR": "1"}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "queuectl", *args],
            stdout=follower,
            stderr=subprocess.PIPE,
            env=env,
            timeout=60,
            check=False,
        )
        os.close(follower)
        assert done.returncode == 0, done.stderr
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the terminal's other side is closed and drained
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_on_a_narrow_terminal_only_the_command_shrinks(run: Run, db: str) -> None:
    _fill(run)
    text = _in_a_terminal(db, 80, "list")
    header, *rows = text.splitlines()
    assert all(name in header for name in HEADERS)
    assert LONG_ID in text  # the id keeps its width
    assert "reports" in text
    assert "7" in rows[0].split()
    assert LONG_COMMAND not in text
    assert "echo word0" in text
    assert "…" in text


def test_worker_list_keeps_whole_heartbeat_times(run: Run, db: str) -> None:
    from queuectl.models import WorkerRegistration
    from queuectl.store import open_store

    store = open_store(db)
    try:
        store.now()
        store.register_worker(
            WorkerRegistration(
                id="host-with-a-rather-long-name-12345",
                host="host-with-a-rather-long-name",
                pid=12345,
                queues=("default", "emails", "reports"),
                slots=8,
            )
        )
    finally:
        store.close()
    text = _in_a_terminal(db, 80, "worker", "list")
    assert "host-with-a-rather-long-name-12345" in text
    assert "default,emails,reports" in text
    stamps = [word for word in text.split() if word.count(":") == 2]
    assert len(stamps) == 2  # started and heartbeat, each HH:MM:SS in full
    assert "…" not in text


def _typical_jobs(run: Run, put: Callable[..., None]) -> None:
    """What a newcomer's queue holds: one queue, short commands, generated ids."""
    put("a1b2c3d4e5f6", "completed", queue="default", command="echo done")
    put("0f1e2d3c4b5a", "processing", queue="default", command="sleep 30")
    for command in (["make", "test"], ["echo", "hello"]):
        run("enqueue", "--", *command).ok()


def _widest(text: str) -> int:
    return max(len(line) for line in text.splitlines())


def test_a_typical_listing_fits_80_columns(run: Run, put: Callable[..., None]) -> None:
    _typical_jobs(run, put)
    for args in (("list",), ("status",), ("list", "--state", "pending")):
        done = run(*args, env={"COLUMNS": "80"}).ok()
        assert _widest(done.stdout) <= 80, done.stdout
    listing = run("list").ok().stdout
    assert "QUEUE" not in listing and "RUN AT" not in listing  # nothing they would tell


def test_run_at_is_shown_for_the_jobs_due_later(run: Run) -> None:
    run("enqueue", "--", "make", "test").ok()
    run("enqueue", "--delay", "2h", "--", "make", "deploy").ok()
    header, *rows = run("list").ok().lines
    assert "RUN AT" in header
    [later] = [line for line in rows if "make deploy" in line]
    [now] = [line for line in rows if "make test" in line]
    assert later.count(":") == 2 and now.count(":") == 2  # its UPDATED as the clock alone
    assert " in 2h " in later or " in 1h 59m " in later  # RUN AT as the span alone
    wide = run("list", "--wide").ok().stdout
    assert "(in 2h)" in wide or "(in 1h 59m)" in wide  # --wide: the time and the span


def test_a_mixed_listing_fits_80_columns(run: Run, db: str, put: Callable[..., None]) -> None:
    """Due later, failed with a retry time, running, a long command: in a pipe every line
    but the long command's fits 80 columns (which is kept whole); on a terminal all do."""
    put("f00dfeed0001", "failed", queue="default", command="./upload.sh")  # retry in 1h
    put("f00dfeed0002", "processing", queue="default", command="sleep 30")
    run("enqueue", "--delay", "19h57m", "--", "./nightly.sh").ok()
    run("enqueue", "--delay", "71h", "--", "./weekly.sh").ok()
    run("enqueue", "--", LONG_COMMAND).ok()
    _register(db, "build-7", "build-7-4242-ab12", 4242, ("default", "reports"))
    listing = run("list", env={"COLUMNS": "80"}).ok().stdout
    assert "in 19h 5" in listing and "in 2d 23h" in listing
    assert " in 1h " in listing or " in 59m " in listing
    assert LONG_COMMAND in listing
    short = [line for line in listing.splitlines() if LONG_COMMAND not in line]
    assert len(short) == 5 and _widest("\n".join(short)) <= 80, listing
    for args in (("status",), ("worker", "list")):
        assert _widest(run(*args, env={"COLUMNS": "80"}).ok().stdout) <= 80
    on_terminal = _in_a_terminal(db, 80, "list")
    assert _widest(on_terminal) <= 80 and "in 19h 5" in on_terminal, on_terminal


def test_wide_shows_every_column_in_full(run: Run, put: Callable[..., None]) -> None:
    _typical_jobs(run, put)
    plain = run("list").ok().stdout
    wide = run("list", "--wide").ok().stdout
    header = wide.splitlines()[0]
    assert "QUEUE" in header and "RUN AT" in header
    assert wide.count("default") == 4
    today = datetime.now().strftime("%m-%d ")
    assert today not in plain
    assert wide.count(today) == 4 + 2  # updated of each job, run at of the two pending


def test_on_a_terminal_the_command_gives_way_first(run: Run, db: str) -> None:
    for command in (LONG_COMMAND, "true"):
        run("enqueue", "--id", f"job-{len(command):03}-with-an-id-of-thirty", "--", command).ok()
    text = _in_a_terminal(db, 80, "list")
    assert _widest(text) <= 80, text  # the command keeps no more room than is left
    assert "echo w" in text and "…" in text
    wide = _in_a_terminal(db, 80, "list", "--wide")
    assert LONG_COMMAND in wide and "…" not in wide


def test_worker_list_names_host_and_pid_once(run: Run, db: str) -> None:
    _register(db, "build-7", "build-7-4242-ab12", 4242, ("default",))
    done = run("worker", "list", env={"COLUMNS": "80"}).ok()
    assert _widest(done.stdout) <= 80
    header = done.lines[0].split()
    assert "HOST" not in header and "PID" not in header and "STOP" not in header
    wide = run("worker", "list", "--wide").ok()
    assert {"HOST", "PID", "STOP"} <= set(wide.lines[0].split())
    assert "4242" in wide.lines[1].split()
    assert datetime.now().strftime("%Y-%m-%d") in wide.stdout


def _register(db: str, host: str, worker_id: str, pid: int, queues: tuple[str, ...]) -> None:
    from queuectl.models import WorkerRegistration
    from queuectl.store import open_store

    store = open_store(db)
    try:
        store.register_worker(WorkerRegistration(worker_id, host, pid, queues, 2))
    finally:
        store.close()

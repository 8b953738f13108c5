"""Tables never lose information: only free text shrinks, and only on a narrow terminal."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

from tests.cli.conftest import Run

LONG_ID = "a-very-long-identifier-of-forty-one-chars"
LONG_COMMAND = "echo " + " ".join(f"word{i}" for i in range(40))
HEADERS = ["ID", "STATE", "ATTEMPTS", "PRI", "QUEUE", "UPDATED", "RUN AT", "COMMAND"]


def _fill(run: Run) -> None:
    spec = f'{{"id":"{LONG_ID}","command":"{LONG_COMMAND}","queue":"reports"}}'
    assert run("enqueue", spec).exit_code == 0
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

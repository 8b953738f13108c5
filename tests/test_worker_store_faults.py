"""A worker whose database stops taking writes, or disappears.

- A `--burst` run on a database it can never write gives up after two leases: one
  `error:` line, exit 1 (a long-running worker keeps retrying, see test_worker.py).
- A SQLite file deleted (or replaced) under a running worker: the worker notices on its
  next heartbeat, kills its jobs, says so in one `error:` line and exits 1, rather than
  run on where `status` and `worker stop` can never see it.

Real worker processes on real files; the lock is a real `BEGIN IMMEDIATE` held by the
test, which even root cannot write past.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from queuectl.models import JobState
from queuectl.store import open_store
from tests.helpers import enqueue, processes_matching, state_of, wait_for
from tests.pg_helpers import create_test_database, drop_test_database

pytestmark = pytest.mark.slow


class Worker:
    """`queuectl worker start ARGS` as a real process, its stderr in a file."""

    def __init__(self, db: Path | str, *args: str, logs: Path | None = None) -> None:
        env = {**os.environ, "QUEUECTL_SQLITE_BUSY_TIMEOUT": "0.5"}
        command = [sys.executable, "-m", "queuectl", "--db", str(db), "worker", "start", *args]
        folder = logs if logs is not None else Path(db).parent
        self.log = folder / f"worker-{uuid.uuid4().hex[:8]}.log"
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(command, stdout=out, stderr=out, env=env)

    @property
    def stderr(self) -> str:
        return self.log.read_text()

    def finish(self, timeout: float = 90) -> int:
        """Wait for the worker to exit by itself; its exit code."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"the worker did not stop:\n{self.stderr[-2000:]}") from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def one_error_line(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-2000:]
    assert stderr.splitlines()[-1] == errors[0]
    return errors[0]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "q.db"
    store = open_store(str(path))
    try:
        store.set_config("lease-seconds", "2")  # heartbeats every 0.7 s, patience 4 s
    finally:
        store.close()
    return path


def hold_write_lock(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    return conn


def test_a_burst_run_on_a_database_it_cannot_write_gives_up(db: Path) -> None:
    store = open_store(str(db))
    enqueue(store, '{"id":"waiting","command":"true"}')
    lock = hold_write_lock(db)
    try:
        code = Worker(db, "--burst").finish()  # would retry forever without its patience
    finally:
        lock.close()
    assert code == 1
    assert "gave up" in one_error_line(stderr := worker_log(db)) and "locked" in stderr
    assert state_of(store, "waiting") is JobState.PENDING  # nothing was taken
    store.close()


def worker_log(db: Path) -> str:
    [log] = db.parent.glob("worker-*.log")
    return log.read_text()


def test_a_burst_run_gives_up_when_writes_stop_mid_run(db: Path) -> None:
    store = open_store(str(db))
    marker = f"mid-run-{uuid.uuid4().hex}"
    enqueue(store, f'{{"id":"slow","command":"sleep 30 # {marker}"}}')
    running = Worker(db, "--burst")
    lock = None
    try:
        wait_for(lambda: state_of(store, "slow") is JobState.PROCESSING, what="the job to start")
        lock = hold_write_lock(db)
        code = running.finish()
    finally:
        if lock is not None:
            lock.close()
        running.kill()
    assert code == 1
    assert "gave up" in one_error_line(running.stderr)
    wait_for(lambda: not processes_matching(marker), what="the job's process to be killed")
    store.close()


def test_a_long_running_worker_waits_out_a_lock(db: Path) -> None:
    """Only a burst run gives up: a worker started for the long haul outlasts an outage
    longer than a burst run's patience (two leases, 4 s), then runs what is waiting."""
    store = open_store(str(db))
    lock = hold_write_lock(db)
    running = Worker(db)
    try:
        wait_for(
            lambda: running.stderr.count("register: database unavailable") >= 4,
            timeout=60,
            what="four failed registrations",
        )
        assert running.proc.poll() is None, running.stderr
        lock.close()
        enqueue(store, '{"id":"after","command":"true"}')
        wait_for(lambda: state_of(store, "after") is JobState.COMPLETED, what="the job to run")
    finally:
        lock.close()
        running.proc.terminate()
        running.finish()
    store.close()


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_worker_stops_when_its_database_file_goes(db: Path, tmp_path: Path, how: str) -> None:
    store = open_store(str(db))
    marker = f"orphan-{uuid.uuid4().hex}"
    enqueue(store, f'{{"id":"slow","command":"sleep 60 # {marker}"}}')
    running = Worker(db, "--count", "2")
    try:
        wait_for(lambda: state_of(store, "slow") is JobState.PROCESSING, what="the job")
        store.close()
        if how == "deleted":
            db.unlink()
        else:
            other = tmp_path / "other.db"
            open_store(str(other)).close()
            other.replace(db)
        code = running.finish(timeout=60)
    finally:
        running.kill()
    assert code == 1
    message = one_error_line(running.stderr)
    assert str(db) in message and "deleted or replaced" in message
    wait_for(lambda: not processes_matching(marker), what="the job's process to be killed")


@pytest.mark.postgres
def test_a_worker_stops_when_its_postgres_database_is_dropped(tmp_path: Path) -> None:
    url = create_test_database()
    try:
        store = open_store(url)
        marker = f"orphan-{uuid.uuid4().hex}"
        enqueue(store, f'{{"id":"slow","command":"sleep 60 # {marker}"}}')
        running = Worker(url, logs=tmp_path)
        try:
            wait_for(lambda: state_of(store, "slow") is JobState.PROCESSING, what="the job")
            store.close()
            drop_test_database(url)  # ends the worker's sessions too
            code = running.finish(timeout=60)
        finally:
            running.kill()
    finally:
        drop_test_database(url)
    assert code == 1
    message = one_error_line(running.stderr)
    assert "does not exist" in message
    wait_for(lambda: not processes_matching(marker), what="the job's process to be killed")

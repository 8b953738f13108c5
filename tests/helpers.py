"""Helpers for tests that run real worker processes: start them, wait on conditions."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from queuectl.models import Job, JobState
from queuectl.pacing import Pacing
from queuectl.spec import parse_job
from queuectl.store import Store
from queuectl.worker import Worker
from queuectl.worker_options import WorkerOptions

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T | None], timeout: float = 30.0, what: str = "condition"
) -> T:
    """Poll `condition` until it returns something truthy (so never None: a condition may
    answer None for "not yet"); fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def all_at_once(stores: list[Store], action: Callable[[Store], T]) -> list[T]:
    """`action` on every store at the same moment (threads released by one barrier), as
    many hosts doing it together; the results in the stores' order."""
    import threading

    barrier = threading.Barrier(len(stores))
    results: list[Any] = [None] * len(stores)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = action(stores[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def enqueue(store: Store, *specs: str) -> list[str]:
    return store.enqueue_jobs([parse_job(s) for s in specs], 3)


def state_of(store: Store, job_id: str) -> JobState:
    job = store.get_job(job_id)
    assert job is not None, f"job {job_id} vanished"
    return job.state


def job(store: Store, job_id: str) -> Job:
    found = store.get_job(job_id)
    assert found is not None, f"job {job_id} vanished"
    return found


def start_worker(
    url: str, log: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`queuectl worker start ARGS` as a real process, its log in `log`."""
    command = [sys.executable, "-m", "queuectl", "--db", url, "worker", "start", *args]
    with open(log, "ab") as out:
        return subprocess.Popen(command, stdout=out, stderr=out, env={**os.environ, **(env or {})})


def stop(proc: subprocess.Popen[bytes], timeout: float = 60.0) -> int:
    """SIGTERM and wait; SIGKILL if it does not exit in time (then fail)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("worker did not stop after SIGTERM") from None


def processes_matching(marker: str) -> list[int]:
    """Pids whose command line contains `marker` (read from /proc, no pgrep races)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        if marker.encode() in cmdline and "State:\tZ" not in status:
            found.append(int(entry))
    return found


def kill_matching(marker: str) -> None:
    for pid in processes_matching(marker):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def worker_script_report(script: str, *args: str) -> Any:
    """Run `script` (Python that drives a Worker) in a process of its own and return the
    JSON its last output line holds: a worker's `run` installs signal handlers and a stop
    watchdog, which belong in a process of their own, not in pytest's."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@contextlib.contextmanager
def stepped_worker(url: str, options: WorkerOptions) -> Iterator[Worker]:
    """A Worker whose steps a test calls one by one (never `run`), released afterwards:
    what it still runs killed, its claimer, store, selector and wake-up pipe closed."""
    worker = Worker(url, options)
    try:
        yield worker
    finally:
        for _, process in worker.slots.running.values():
            process.kill_group()
            process.finish()
        worker.claims.close(wait=True)
        worker.store.close()
        worker.selector.close()
        worker.wakeups.close()


def begin_spilled(writer: sqlite3.Connection) -> None:
    """Open a write transaction on `writer` (isolation_level=None) whose pages spill to
    the WAL before any COMMIT: a SQLite commit under way, heard (inotify) but not yet
    visible to other connections until the caller commits."""
    writer.execute("PRAGMA cache_size = 10")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("CREATE TABLE filler (x BLOB)")
    writer.executemany("INSERT INTO filler VALUES (zeroblob(1000))", [()] * 2000)


def settled(pacing: Pacing, took: float) -> Pacing:
    """`pacing` after 60 jobs of `took` seconds each: its average has settled on it."""
    for _ in range(60):
        pacing.observe(took)
    return pacing

"""Helpers for tests that run real worker processes: start them, wait on conditions."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from queuectl.models import Job, JobState
from queuectl.spec import parse_job
from queuectl.store import Store

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float = 30.0, what: str = "condition") -> T:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


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

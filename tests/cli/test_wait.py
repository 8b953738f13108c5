"""`queuectl wait [ID...] [--queue Q] [--timeout S]`, as `pueue wait` and `tsp -w`: blocks
until the jobs have finished; exit 0 if all completed, 1 otherwise, 124 on timeout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    from queuectl.store import open_store

    open_store(str(tmp_path / "q.db")).close()  # an empty queue
    base = {**os.environ, "QUEUECTL_DB": str(tmp_path / "q.db"), "HOME": str(tmp_path)}
    return {**base, "XDG_DATA_HOME": str(tmp_path / "d"), "XDG_STATE_HOME": str(tmp_path / "s")}


def start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "queuectl", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "queuectl", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.not_fast  # a real worker process
def test_wait_for_ids_until_a_worker_completes_them(env: dict[str, str]) -> None:
    for job_id in ("a", "b"):
        assert run(env, "enqueue", "--id", job_id, "--", "true").returncode == 0
    waiting = start(env, "wait", "a", "b")
    assert run(env, "worker", "start", "--burst").returncode == 0
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    lines = out.splitlines()
    assert lines[0] == "waiting for 2 jobs" and lines[-1] == "2 jobs completed"
    assert sorted(lines[1:-1]) == ["a: completed", "b: completed"]


@pytest.mark.not_fast  # a real worker process
def test_wait_for_every_job_of_a_queue_fails_when_one_is_dead(env: dict[str, str]) -> None:
    run(env, "enqueue", "--id", "good", "--queue", "q", "--", "true")
    run(env, "enqueue", "--id", "bad", "--queue", "q", "--max-retries", "0", "--", "false")
    run(env, "enqueue", "--id", "elsewhere", "--queue", "other", "--delay", "1h", "--", "true")
    waiting = start(env, "wait", "--queue", "q")
    assert waiting.stdout is not None
    assert waiting.stdout.readline() == "waiting for 2 jobs\n"  # it has chosen them
    assert run(env, "worker", "start", "--burst", "--queue", "q").returncode == 0
    _, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 1
    # It started before any worker did, and said so; then the one line of its verdict.
    assert err.splitlines()[0].startswith("no live worker serves queue q:")
    assert err.splitlines()[1:] == ["error: 1 of 2 jobs did not complete: bad (dead)"]


def test_wait_times_out_with_124(env: dict[str, str]) -> None:
    run(env, "enqueue", "--id", "never", "--", "true")  # no worker runs it
    done = run(env, "wait", "--timeout", "0.2s")
    assert done.returncode == 124
    assert done.stdout == "waiting for 1 job\n"
    assert done.stderr.splitlines() == [
        "no live worker serves queue default: waiting until one does (queuectl worker start)",
        "error: timed out: 1 job not finished (never)",
    ]


def test_wait_for_an_unknown_id_is_an_error(env: dict[str, str]) -> None:
    done = run(env, "wait", "nope")
    assert done.returncode == 1 and done.stderr == "error: no job with id 'nope'\n"

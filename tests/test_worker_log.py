"""Worker log lines: text with local time and zone, JSON lines, quiet, and no timestamps
of our own under journald (which stamps every line itself)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from queuectl.models import JobState
from queuectl.store import open_store
from tests.helpers import enqueue, kill_matching, start_worker, state_of, stop, wait_for

pytestmark = pytest.mark.slow


def _burst(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, journald: bool = False
) -> list[str]:
    """Enqueue one job, run a burst worker with `args`; its stderr lines."""
    db = str(tmp_path / "q.db")
    base = [sys.executable, "-m", "queuectl", "--db", db]
    subprocess.run([*base, "enqueue", '{"id":"j","command":"true"}'], check=True, timeout=60)
    log = tmp_path / "stderr.log"
    with open(log, "wb") as err:
        stat = os.fstat(err.fileno())
        extra = dict(env or {})
        if journald:  # what systemd sets when stderr is its journal stream
            extra["JOURNAL_STREAM"] = f"{stat.st_dev}:{stat.st_ino}"
        done = subprocess.run(
            [*base, "worker", "start", "--burst", *args],
            stderr=err,
            env={**os.environ, **extra},
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, log.read_text()
    return log.read_text().splitlines()


def test_text_lines_carry_local_time_and_zone(tmp_path: Path) -> None:
    lines = _burst(tmp_path, env={"TZ": "Europe/Paris"})
    assert lines
    for line in lines:
        date, clock, zone, level, _ = line.split(" ", 4)
        assert len(date) == 10 and clock.count(":") == 2
        assert zone in ("CET", "CEST")
        assert level in ("INFO", "WARNING")
    assert any("completed" in line for line in lines)


def test_json_lines(tmp_path: Path) -> None:
    lines = _burst(tmp_path, "--log-format", "json")
    entries = [json.loads(line) for line in lines]
    assert {"time", "level", "logger", "message"} <= set(entries[0])
    assert all(entry["time"].endswith("Z") for entry in entries)
    assert any("completed" in entry["message"] for entry in entries)


def test_quiet_logs_no_job_events(tmp_path: Path) -> None:
    assert _burst(tmp_path, "-q") == []


def test_under_journald_lines_have_no_timestamp(tmp_path: Path) -> None:
    lines = _burst(tmp_path, journald=True)
    assert lines
    assert all(line.startswith(("INFO ", "WARNING ")) for line in lines)


def test_a_graceful_stop_says_how_to_kill_the_running_jobs(tmp_path: Path) -> None:
    db = str(tmp_path / "q.db")
    mark = f"sleep 1000 # {tmp_path.name}-hint"
    store = open_store(db)
    try:
        enqueue(store, json.dumps({"id": "long", "command": mark}))
        log = tmp_path / "worker.log"
        worker = start_worker(db, log)
        try:
            wait_for(lambda: state_of(store, "long") is JobState.PROCESSING, what="job start")
            worker.send_signal(signal.SIGTERM)
            wait_for(lambda: "second Ctrl-C" in log.read_text(), what="the hint")
        finally:
            stop(worker)  # the second SIGTERM: a cold stop
            kill_matching(mark)
    finally:
        store.close()

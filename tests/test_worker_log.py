"""Worker log lines: text with local time and zone, JSON lines with the events' fields,
quiet and verbose, colour for failed and dead events, and under journald no timestamps of
our own (journald stamps every line itself) but each line's priority."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from queuectl.cli.worker_log import TextFormat, detached_log_path
from queuectl.store import open_store
from tests.helpers import (
    enqueue,
    kill_matching,
    processes_matching,
    start_worker,
    stop,
    wait_for,
)

pytestmark = pytest.mark.slow


def _burst(
    tmp_path: Path,
    *args: str,
    env: dict[str, str] | None = None,
    journald: bool = False,
    command: str = "true",
) -> list[str]:
    """Enqueue one job, run a burst worker with `args`; its stderr lines."""
    db = str(tmp_path / "q.db")
    base = [sys.executable, "-m", "queuectl", "--db", db]
    job = json.dumps({"id": "j", "command": command, "max_retries": 0})
    subprocess.run([*base, "enqueue", job], check=True, timeout=60)
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


def test_json_lines_carry_the_events_fields(tmp_path: Path) -> None:
    lines = _burst(tmp_path, "--log-format", "json", command="exit 3")
    events = {entry["event"]: entry for entry in map(json.loads, lines) if "event" in entry}
    assert set(events) == {"started", "dead"}
    for entry in events.values():
        assert (entry["job"], entry["attempt"], entry["queue"]) == ("j", 1, "default")
    assert events["dead"]["exit_code"] == 3
    assert isinstance(events["dead"]["duration_s"], float)


def test_verbose_logs_claims_leases_and_waits(tmp_path: Path) -> None:
    lines = _burst(tmp_path, "-v", command="sleep 0.2")  # a job to wait for
    debug = [line for line in lines if " DEBUG " in line]
    for what in ("claimed 1 of", "lease(s) renewed", "waiting"):
        assert any(what in line for line in debug), (what, debug)


def test_a_started_line_shows_the_head_of_a_long_command(tmp_path: Path) -> None:
    command = "true " + "x" * 5000
    [started] = [line for line in _burst(tmp_path, command=command) if "attempt 1 started:" in line]
    assert command[:200] in started
    assert command[:201] not in started
    assert "(4805 more characters)" in started


def _record(level: int, **fields: object) -> logging.LogRecord:
    record = logging.LogRecord("queuectl.worker", level, "", 0, "job j %s", ("x",), None)
    if fields:
        record.fields = fields
    return record


def test_failed_and_dead_events_are_coloured_on_a_terminal() -> None:
    coloured = TextFormat(stamped=False, color=True)
    assert "\x1b[31mjob j x\x1b[0m" in coloured.format(_record(logging.INFO, event="dead"))
    assert "\x1b[33mjob j x\x1b[0m" in coloured.format(_record(logging.INFO, event="failed"))
    assert coloured.format(_record(logging.INFO, event="completed")) == "INFO job j x"
    plain = TextFormat(stamped=False, color=False)
    assert plain.format(_record(logging.INFO, event="dead")) == "INFO job j x"


def test_under_journald_each_line_carries_its_priority() -> None:
    journal = TextFormat(stamped=False, color=False, priority=True)
    assert journal.format(_record(logging.WARNING)) == "<4>WARNING job j x"
    assert journal.format(_record(logging.ERROR)) == "<3>ERROR job j x"
    assert journal.format(_record(logging.DEBUG)) == "<7>DEBUG job j x"


def test_quiet_logs_no_job_events(tmp_path: Path) -> None:
    assert _burst(tmp_path, "-q") == []


def test_under_journald_lines_have_no_timestamp_but_a_priority(tmp_path: Path) -> None:
    lines = _burst(tmp_path, journald=True)
    assert lines
    assert all(line.startswith(("<6>INFO ", "<4>WARNING ")) for line in lines)


def test_a_graceful_stop_says_how_to_kill_the_running_jobs(tmp_path: Path) -> None:
    db = str(tmp_path / "q.db")
    mark = f"sleep 1000 # {tmp_path.name}-hint"
    store = open_store(db)
    try:
        enqueue(store, json.dumps({"id": "long", "command": mark}))
        log = tmp_path / "worker.log"
        worker = start_worker(db, log)
        try:
            # Its command running, not just claimed: a stop before the start hands it back.
            wait_for(lambda: processes_matching(mark), what="the job's command running")
            worker.send_signal(signal.SIGTERM)
            wait_for(lambda: "second Ctrl-C" in log.read_text(), what="the hint")
        finally:
            stop(worker)  # the second SIGTERM: a cold stop
            kill_matching(mark)
    finally:
        store.close()


def test_a_detached_log_file_is_named_from_the_database_not_its_spelling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    same_file = ["q.db", "./q.db", "sub/../q.db", str(tmp_path / "q.db"), "sqlite:///q.db"]
    assert len({detached_log_path(spelling) for spelling in same_file}) == 1
    assert detached_log_path("q.db") != detached_log_path("sub/q.db")
    server = [
        "postgresql://app:secret@db.example:5432/jobs",
        "postgresql://app:other@db.example:5432/jobs",
        "postgresql://app@db.example:5432/jobs",
        "postgresql://app@db.example:5432/jobs?password=secret",
    ]
    assert len({detached_log_path(url) for url in server}) == 1
    assert "secret" not in str(detached_log_path(server[0]))
    assert detached_log_path(server[0]) != detached_log_path("postgresql://app@db.example/other")

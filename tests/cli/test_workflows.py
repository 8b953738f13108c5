"""Pipelines through the real command line: `enqueue --after`, the blocked view, `show`'s
links, the cancel cascade when a job dies, and `retry` bringing the pipeline back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import Put, Run, Snapshot


def by_id(run: Run) -> dict[str, dict[str, object]]:
    return {job["id"]: job for job in run("list", "--json").ok().json()}


def test_a_job_after_another_is_blocked_and_shown_so(run: Run, put: Put) -> None:
    put("build", "pending")
    assert run("enqueue", "--id", "test", "--after", "build", "--", "true").ok().lines == ["test"]
    run("enqueue", "--id", "note", "--after", "build", "--after-mode", "finished", "--", "true")
    table = run("list").ok().stdout
    assert [line.split()[1] for line in table.splitlines()[1:]] == ["blocked", "blocked", "pending"]
    blocked = run("list", "--state", "blocked", "--json").ok().json()
    assert [job["id"] for job in blocked] == ["note", "test"]
    assert [(j["state"], j["blocked"], j["waiting_for"]) for j in blocked] == [
        ("pending", True, 1)
    ] * 2
    assert run("status", "--json").ok().json()["blocked"] == 2
    assert "2 pending job(s) blocked" in run("status").ok().stdout
    assert "after:            build (pending)" in run("show", "test").ok().lines
    shown = run("show", "build", "--json").ok().json()
    assert shown["dependents"] == [
        {"id": "note", "state": "pending"},
        {"id": "test", "state": "pending"},
    ]
    assert run("show", "note", "--json").ok().json()["after_mode"] == "finished"


def test_a_whole_pipeline_from_one_file_in_any_order(run: Run, tmp_path: Path) -> None:
    lines = [
        {"id": "deploy", "command": "true", "after": ["test-a", "test-b"]},
        {"id": "test-a", "command": "true", "after": ["build"]},
        {"id": "test-b", "command": "true", "after": ["build"]},
        {"id": "build", "command": "true"},
    ]
    path = tmp_path / "pipeline.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    run("enqueue", "--file", str(path)).ok()
    jobs = by_id(run)
    assert {i: jobs[i]["waiting_for"] for i in jobs} == {
        "deploy": 2,
        "test-a": 1,
        "test-b": 1,
        "build": 0,
    }


def test_an_after_that_cannot_hold_is_refused_and_changes_nothing(
    run: Run, put: Put, snapshot: Snapshot, tmp_path: Path
) -> None:
    put("gone-wrong", "dead")
    before = snapshot()
    run("enqueue", "--after", "nowhere", "--", "true").error("'nowhere', which does not exist")
    run("enqueue", "--after", "gone-wrong", "--", "true").error("which is dead: it would never run")
    run("enqueue", "--after", "Bad id!", "--", "true").error("invalid job id", "in `after`")
    cycle = tmp_path / "cycle.jsonl"
    cycle.write_text(
        '{"id": "x", "command": "true", "after": ["y"]}\n'
        '{"id": "y", "command": "true", "after": ["x"]}\n'
    )
    run("enqueue", "--file", str(cycle)).error("cycle: ")
    run("enqueue", "--after-mode", "sometimes", "--", "true").error("--after-mode", code=2)
    assert snapshot() == before
    # whatever happened: a job after a dead one may run
    run(
        "enqueue",
        "--id",
        "report",
        "--after",
        "gone-wrong",
        "--after-mode",
        "finished",
        "--",
        "true",
    )
    assert by_id(run)["report"]["blocked"] is False


@pytest.mark.not_fast  # real worker processes
def test_a_failed_step_cancels_the_rest_and_retry_reruns_from_it(
    run: Run, db: str, tmp_path: Path
) -> None:
    fixed = tmp_path / "fixed"
    build = f"test -e {fixed}"
    run("enqueue", "--id", "build", "--max-retries", "0", "--", build).ok()
    run("enqueue", "--id", "test", "--after", "build", "--", "true").ok()
    run("enqueue", "--id", "deploy", "--after", "test", "--", "true").ok()
    run("enqueue", "--id", "cleanup", "--after", "build", "--after-mode", "finished", "--", "true")
    worker = [sys.executable, "-m", "queuectl", "--db", db, "worker", "start", "--burst"]
    subprocess.run(worker, check=True, capture_output=True, timeout=120)
    jobs = by_id(run)
    assert {i: jobs[i]["state"] for i in jobs} == {
        "build": "dead",
        "test": "cancelled",
        "deploy": "cancelled",
        "cleanup": "completed",
    }
    assert jobs["test"]["last_error"] == "after build, which ended dead"
    assert jobs["deploy"]["last_error"] == "after test, which was cancelled"
    assert jobs["test"]["cancelled_by"] == "build"
    fixed.touch()
    retried = run("dlq", "retry", "build").ok().lines
    assert retried == ["build: pending", "also back to pending (2, run after those): test, deploy"]
    subprocess.run(worker, check=True, capture_output=True, timeout=120)
    assert {i: j["state"] for i, j in by_id(run).items()} == dict.fromkeys(
        ("build", "test", "deploy", "cleanup"), "completed"
    )

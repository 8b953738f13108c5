"""A job spec's fields reach the NewJob they make, each in its own place."""

from __future__ import annotations

import json

from queuectl.models import AfterMode, NewJob, OnDuplicate
from queuectl.spec import parse_job
from queuectl.spec_lines import parse_job_lines

SPEC = {
    "id": "j1",
    "command": "echo hi",
    "queue": "q1",
    "priority": 4,
    "max_retries": 6,
    "timeout": 7.5,
    "delay": 30.0,
    "keep_daemons": True,
    "cwd": "/srv",
    "env": {"A": "1"},
    "after": ["p1", "p2"],
    "after_mode": "finished",
    "concurrency_key": "ck",
    "unique_key": "uk",
    "on_duplicate": "error",
}
EXPECTED = NewJob(
    id="j1",
    command="echo hi",
    queue="q1",
    priority=4,
    max_retries=6,
    timeout=7.5,
    run_at=None,
    delay=30.0,
    keep_daemons=True,
    cwd="/srv",
    env={"A": "1"},
    after=("p1", "p2"),
    after_mode=AfterMode.FINISHED,
    concurrency_key="ck",
    unique_key="uk",
    on_duplicate=OnDuplicate.ERROR,
)


def test_every_spec_field_reaches_its_own_job_field() -> None:
    assert parse_job(json.dumps(SPEC)) == EXPECTED
    lines = "\n".join(json.dumps({**SPEC, "id": f"j{i}"}) for i in (1, 2))
    [(where, job), _] = parse_job_lines(lines)
    assert (where, job) == ("line 1", EXPECTED)


def test_a_spec_without_cwd_takes_the_directory_given() -> None:
    spec = {key: value for key, value in SPEC.items() if key != "cwd"}
    assert parse_job(json.dumps(spec), "/home/me").cwd == "/home/me"
    run_at = {**spec, "run_at": "2030-01-01T00:00:00Z"}
    del run_at["delay"]
    assert parse_job(json.dumps(run_at)).run_at == 1893456000.0

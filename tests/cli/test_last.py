"""`--last` (the job this machine enqueued last into the database, else the newest) on
logs, show, wait and cancel; `purge --finished`."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import Run


def _remembered(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "xdg-state" / "queuectl" / "last-enqueued.json"
    remembered: dict[str, str] = json.loads(path.read_text())
    return remembered


def test_show_last_is_the_job_enqueued_last(run: Run, tmp_path: Path) -> None:
    first = run("enqueue", "--", "echo", "one").ok().stdout.strip()
    mine = run("enqueue", "--priority", "-5", "--", "echo", "two").ok().stdout.strip()
    assert first != mine
    shown = run("show", "--last", "--json").ok().json()
    assert shown["id"] == mine
    assert list(_remembered(tmp_path).values()) == [mine]


def test_the_fast_enqueue_path_remembers_too(run: Run) -> None:
    mine = run("enqueue", '{"command":"true"}').ok().stdout.strip()
    assert run("show", "--last", "--json").ok().json()["id"] == mine


def test_a_bulk_enqueue_remembers_its_last_job(run: Run) -> None:
    lines = '{"id":"bulk-1","command":"true"}\n{"id":"bulk-2","command":"true"}\n'
    run("enqueue", "--file", "-", input=lines).ok()
    assert run("show", "--last", "--json").ok().json()["id"] == "bulk-2"


def test_without_a_remembered_job_last_is_the_newest(
    run: Run, put: Callable[..., None], tmp_path: Path
) -> None:
    put("older", "completed", stdout=b"old\n")
    put("newest", "completed", stdout=b"new output\n")
    assert not (tmp_path / "xdg-state").exists()
    assert run("logs", "--last").ok().stdout == "new output\n"


def test_a_deleted_remembered_job_falls_back_to_the_newest(
    run: Run, put: Callable[..., None]
) -> None:
    mine = run("enqueue", "--", "true").ok().stdout.strip()
    run("cancel", "--last").ok()
    run("delete", mine).ok()
    put("someone-elses", "pending")
    assert run("show", "--last", "--json").ok().json()["id"] == "someone-elses"


def test_cancel_and_wait_take_last(run: Run) -> None:
    run("enqueue", "--", "true").ok()
    mine = run("enqueue", "--", "sleep", "1").ok().stdout.strip()
    assert run("cancel", "--last").ok().stdout == f"{mine}: cancelled\n"
    done = run("wait", "--last")
    assert done.exit_code == 1 and done.stdout.startswith("waiting for 1 job\n")
    assert f"error: 1 of 1 jobs did not complete: {mine} (cancelled)" in done.stderr


def test_last_with_an_id_or_no_jobs_is_an_error(run: Run) -> None:
    run("show").error("missing a job ID (or --last)", code=2)
    run("logs", "--last").error("no jobs", code=1)
    run("enqueue", "--", "true").ok()
    run("show", "some-id", "--last").error("not both", code=2)
    run("cancel", "--last", "--state", "pending").error("--last alone", code=2)
    run("wait", "--last", "--queue", "default").error("--last alone", code=2)


def test_an_unwritable_state_directory_never_fails_an_enqueue(run: Run, tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    done = run("enqueue", "--", "true", env={"XDG_STATE_HOME": str(blocked)}).ok()
    assert done.stderr == ""
    assert os.path.isfile(blocked)


def test_purge_finished_deletes_completed_dead_and_cancelled(
    run: Run, put: Callable[..., None]
) -> None:
    for state in ("completed", "dead", "cancelled", "pending", "failed"):
        put(f"job-{state}", state)
    assert run("purge", "--finished").ok().stdout == "purged 3 jobs\n"
    left = {job["id"] for job in run("list", "--json").ok().json()}
    assert left == {"job-pending", "job-failed"}
    run("purge", "--finished", "--state", "dead").error("not both", code=2)


@pytest.mark.before_store
def test_the_state_file_never_holds_a_password(tmp_path: Path) -> None:
    from queuectl.cli.last_job import database_key

    key = database_key("postgresql://app:s3cret@127.0.0.1:5432/jobs?password=s3cret2")
    assert "s3cret" not in key and key == database_key("postgresql://app:other@127.0.0.1:5432/jobs")
    assert database_key(str(tmp_path / "q.db")) == database_key(f"sqlite:///{tmp_path}/q.db")

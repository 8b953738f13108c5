"""`--json` on the commands that change something (enqueue, cancel and retry have their
own tests) and on `logs`: the same shapes as the REST API."""

from __future__ import annotations

import pytest

from tests.cli import stored
from tests.cli.conftest import Put, Run


def test_logs_json(run: Run, put: Put) -> None:
    put("done", "completed", stdout=b"one\ntwo\n", stderr=b"warn\n")
    assert run("logs", "done", "--json").ok().json() == {
        "attempt": 1,
        "stdout": "one\ntwo\n",
        "stderr": "warn\n",
        "running": False,
        "exit_code": 0,
        "error": None,
    }
    assert run("logs", "done", "--json", "--tail", "1").ok().json()["stdout"] == "two\n"
    run("logs", "done", "--json", "--follow").error("--follow", code=2)


def test_purge_json(run: Run, put: Put) -> None:
    put("old", "completed")
    assert run("purge", "--state", "completed", "--json").ok().json() == {"deleted": 1}


def test_worker_stop_json_without_workers(run: Run) -> None:
    assert run("worker", "stop", "--json").ok().json() == {
        "stopped": [],
        "dead": [],
        "remaining": [],
    }


def test_pause_and_resume_json(run: Run) -> None:
    assert run("pause", "mail", "--json").ok().json() == {"paused": ["mail"]}
    assert run("resume", "--json").ok().json() == {"paused": []}


def test_dlq_retry_and_purge_json(run: Run, put: Put) -> None:
    put("d1", "dead")
    put("d2", "dead")
    assert run("dlq", "retry", "d1", "--json").ok().json() == {"ids": ["d1"], "brought_back": []}
    assert run("dlq", "purge", "--json").ok().json() == {"deleted": 1}


def test_config_reset_and_db_migrate_json(run: Run, db: str) -> None:
    run("config", "set", "max-retries", "7").ok()
    assert run("config", "reset", "max-retries", "--json").ok().json() == {"reset": ["max-retries"]}
    assert run("config", "get", "max-retries").ok().stdout == "3\n"
    assert len(run("config", "reset", "--json").ok().json()["reset"]) >= 10
    migrated = run("db", "migrate", "--json").ok().json()
    assert migrated == {"applied": [], "version": stored.latest_schema(db)}


def test_delete_one_or_several_finished_jobs(run: Run, put: Put) -> None:
    put("c1", "completed")
    put("c2", "cancelled")
    put("p1", "pending")
    run("delete", "c1", "p1").error("only finished jobs can be deleted", code=1)
    assert {j["id"] for j in run("list", "--json").ok().json()} == {"c1", "c2", "p1"}  # none
    assert run("delete", "c1", "c2").ok().stdout == "c1: deleted\nc2: deleted\n"
    assert run("delete", "c1", "--json").error("no job with id 'c1'", code=1)


def test_purge_takes_states_as_a_comma_list(run: Run, put: Put) -> None:
    put("c1", "completed")
    put("d1", "dead")
    put("x1", "cancelled")
    assert run("purge", "--state", "completed,dead", "--json").ok().json() == {"deleted": 2}
    run("purge", "--state", "pending").error("'pending' is not one of", code=2)
    run("purge").error("give --state", code=2)


def test_durations_where_seconds_are_asked_for(run: Run) -> None:
    assert run("config", "set", "job-timeout", "15m").ok().stdout == "job-timeout = 900\n"
    assert run("config", "set", "grace-period", "1m30s").ok().stdout == "grace-period = 90\n"
    assert run("config", "set", "max-backoff", "2h").ok().stdout == "max-backoff = 7200\n"
    run("config", "set", "max-backoff", "soon").error("a duration", code=1)
    run("config", "set", "max-retries", "5m").error("a whole number", code=1)
    assert run("worker", "stop", "--timeout", "5s").ok().stdout == "no workers running\n"


@pytest.mark.before_store
def test_other_tools_words_point_at_the_command(run: Run) -> None:
    for word, meant in [("kill", "cancel"), ("rm", "delete"), ("stop", "worker stop")]:
        run(word, "x").error(f"Did you mean '{meant}'", code=2)

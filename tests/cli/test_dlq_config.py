"""The dead letter queue (`dlq list | retry | purge`), `config`, and `db migrate` / `ping`."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest

from queuectl.config import KEYS
from tests.cli import stored
from tests.cli.conftest import Put, Run, Snapshot, StoredIds

DEFAULTS = {
    "max-retries": "3",
    "backoff-base": "2",
    "max-backoff": "3600",
    "backoff-jitter": "0",
    "job-timeout": "0",
    "lease-seconds": "30",
    "worker-count": "1",
    "poll-interval": "0.5",
    "grace-period": "60",
    "output-limit": "65536",
    "keep-completed": "604800",
    "keep-cancelled": "604800",
    "keep-dead": "0",
}


def typed(values: dict[str, str]) -> dict[str, float]:
    """What `config list --json` prints: numbers, not strings."""
    return {key: KEYS[key].kind(value) for key, value in values.items()}


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def states(run: Run) -> dict[str, str]:
    return {j["id"]: j["state"] for j in run("list", "--json", "--limit", "0").ok().json()}


# -- dlq list -------------------------------------------------------------------------------


def test_dlq_list_shows_dead_jobs_only_newest_first(run: Run, put: Put) -> None:
    put("dead-1", "dead")
    put("alive", "pending")
    put("failed", "failed")
    put("dead-2", "dead", command="exit 7", exit_code=7)

    jobs = run("dlq", "list", "--json").ok().json()

    assert [j["id"] for j in jobs] == ["dead-2", "dead-1"]
    assert all(j["state"] == "dead" for j in jobs)
    assert jobs[0]["exit_code"] == 7 and jobs[0]["attempts"] == 1
    table = run("dlq", "list").ok().stdout
    assert "dead-1" in table and "dead-2" in table
    assert "alive" not in table and "failed" not in table


def test_dlq_list_empty(run: Run, put: Put) -> None:
    put("alive", "pending")
    assert run("dlq", "list").ok().stdout.strip() == "no jobs"
    assert run("dlq", "list", "--json").ok().json() == []


def test_dlq_list_limit(run: Run, put: Put) -> None:
    for n in range(3):
        put(f"d{n}", "dead")
    assert [j["id"] for j in run("dlq", "list", "--limit", "2", "--json").ok().json()] == [
        "d2",
        "d1",
    ]


# -- dlq retry ------------------------------------------------------------------------------


def test_dlq_retry_moves_a_dead_job_back_to_pending_with_attempts_reset(run: Run, put: Put) -> None:
    put("d", "dead", stdout=b"first run\n")
    put("other", "dead")

    result = run("dlq", "retry", "d").ok()

    assert result.stdout == "d: pending\n"
    job = run("show", "d", "--json").ok().json()
    assert (job["state"], job["attempts"]) == ("pending", 0)
    assert job["last_error"] is None and job["exit_code"] is None
    assert abs(time.time() - _epoch(job["run_at"])) < 60  # due now
    assert len(job["attempt_log"]) == 1  # the history is kept
    assert states(run)["other"] == "dead"


def test_dlq_retry_several_ids(run: Run, put: Put) -> None:
    for job_id in ("a", "b", "c"):
        put(job_id, "dead")
    assert run("dlq", "retry", "a", "c").ok().lines == ["a: pending", "c: pending"]
    assert states(run) == {"a": "pending", "b": "dead", "c": "pending"}


@pytest.mark.parametrize(
    ("bad_id", "fragment"),
    [("missing", "missing"), ("alive", "not dead"), ("done", "not dead")],
)
def test_dlq_retry_is_all_or_none(
    run: Run, put: Put, snapshot: Snapshot, bad_id: str, fragment: str
) -> None:
    put("d1", "dead")
    put("alive", "pending")
    put("done", "completed")
    put("d2", "dead")
    before = snapshot()

    run("dlq", "retry", "d1", bad_id, "d2").error(fragment, code=1)

    assert snapshot() == before


def test_dlq_retry_all(run: Run, put: Put) -> None:
    for job_id in ("x", "y"):
        put(job_id, "dead")
    put("p", "pending")
    put("c", "completed")

    assert run("dlq", "retry", "--all").ok().stdout == "2 jobs back to pending\n"
    assert states(run) == {"x": "pending", "y": "pending", "p": "pending", "c": "completed"}
    assert run("dlq", "retry", "--all").ok().stdout == "0 jobs back to pending\n"


def test_dlq_retry_takes_max_retries_from_config_unless_the_job_set_its_own(
    run: Run, put: Put, db: str
) -> None:
    put("inherits", "dead")
    stored.forget_own_max_retries(db, "inherits")  # as if enqueued without one
    put("own", "dead", max_retries=0)
    run("config", "set", "max-retries", "4").ok()

    run("dlq", "retry", "--all").ok()

    retries = {j["id"]: j["max_retries"] for j in run("list", "--json").ok().json()}
    assert retries == {"inherits": 4, "own": 0}


@pytest.mark.before_store
@pytest.mark.parametrize("args", [(), ("d", "--all")], ids=["nothing", "ids-and-all"])
def test_dlq_retry_needs_ids_or_all_not_both(
    run: Run, put: Put, snapshot: Snapshot, args: tuple[str, ...]
) -> None:
    put("d", "dead")
    before = snapshot()
    run("dlq", "retry", *args).error("--all", code=2)
    assert snapshot() == before


# -- dlq purge ------------------------------------------------------------------------------


def test_dlq_purge_deletes_dead_jobs_only(run: Run, put: Put, stored_ids: StoredIds) -> None:
    put("d1", "dead")
    put("p", "pending")
    put("d2", "dead")
    put("c", "completed")

    assert run("dlq", "purge").ok().stdout == "purged 2 jobs\n"
    assert stored_ids() == ["p", "c"]
    assert run("dlq", "list", "--json").ok().json() == []
    assert run("dlq", "purge").ok().stdout == "purged 0 jobs\n"


def test_dlq_purge_older_than(run: Run, put: Put, db: str, stored_ids: StoredIds) -> None:
    put("old", "dead")
    put("new", "dead")
    stored.backdate_job(db, "old", 7200)

    assert run("dlq", "purge", "--older-than", "1h").ok().stdout == "purged 1 job\n"
    assert stored_ids() == ["new"]


# -- config ---------------------------------------------------------------------------------


def test_config_list_shows_every_key_with_its_default(run: Run) -> None:
    lines = run("config", "list").ok().lines
    assert lines == [f"{key} = {value}  (default)" for key, value in DEFAULTS.items()]
    assert run("config", "list", "--json").ok().json() == typed(DEFAULTS)
    run("config", "set", "max-retries", "5").ok()
    assert run("config", "list").ok().lines[0] == "max-retries = 5"
    assert run("config", "list", "--json").ok().json()["max-retries"] == 5


@pytest.mark.parametrize("spelling", ["max-retries", "max_retries", "MAX-RETRIES", " Max_Retries "])
def test_config_keys_accept_hyphens_or_underscores(run: Run, spelling: str) -> None:
    assert run("config", "set", spelling, "5").ok().stdout == "max-retries = 5\n"
    assert run("config", "get", spelling).ok().stdout == "5\n"
    assert run("config", "get", "max-retries").ok().stdout == "5\n"


@pytest.mark.parametrize(
    ("key", "value", "stored"),
    [
        ("max-retries", "0", "0"),
        ("max-retries", "1000", "1000"),
        ("backoff-base", "1.5", "1.5"),
        ("backoff-base", "2.50", "2.5"),
        ("max-backoff", "0", "0"),
        ("backoff-jitter", "0.25", "0.25"),
        ("job-timeout", "90", "90"),
        ("lease-seconds", "2", "2"),
        ("grace-period", "5.5", "5.5"),
        ("output-limit", "1024", "1024"),
    ],
)
def test_config_set_stores_validated_values(run: Run, key: str, value: str, stored: str) -> None:
    assert run("config", "set", key, value).ok().stdout == f"{key} = {stored}\n"
    assert run("config", "get", key).ok().stdout == f"{stored}\n"
    values = run("config", "list", "--json").ok().json()
    assert values == typed({**DEFAULTS, key: stored})


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("max-retries", "abc", "whole number"),
        ("max-retries", "2.5", "whole number"),
        ("max-retries", "1001", "between"),
        ("output-limit", "1.5", "whole number"),
        ("backoff-base", "0.5", "between"),
        ("backoff-base", "many", "number"),
        ("backoff-jitter", "2", "between"),
        ("lease-seconds", "1", "between"),
        ("max-backoff", "nan", "between"),
        ("max-backoff", "inf", "between"),
        ("grace-period", "", "number"),
        ("no-such-key", "1", "unknown config key"),
    ],
)
def test_config_set_rejects_bad_values_and_keeps_the_old_one(
    run: Run, snapshot: Snapshot, key: str, value: str, fragment: str
) -> None:
    run("config", "set", "max-retries", "7").ok()
    before = snapshot()

    run("config", "set", key, value).error(fragment, code=1)

    assert snapshot() == before
    assert run("config", "get", "max-retries").ok().stdout == "7\n"


def test_config_set_negative_value_after_double_dash(run: Run, snapshot: Snapshot) -> None:
    run("config", "set", "max-retries", "7").ok()
    before = snapshot()
    run("config", "set", "max-retries", "--", "-1").error("between", code=1)
    assert snapshot() == before


def test_config_set_negative_value_says_out_of_range(run: Run) -> None:
    run("config", "set", "max-retries", "-1").error("between", code=1)


def test_config_values_persist_across_invocations_and_reset(run: Run) -> None:
    run("config", "set", "max-retries", "9").ok()
    run("config", "set", "backoff-base", "3").ok()

    assert "reset to default" in run("config", "reset", "max_retries").ok().stdout
    assert run("config", "list", "--json").ok().json() == typed({**DEFAULTS, "backoff-base": "3"})

    run("config", "set", "job-timeout", "10").ok()
    assert run("config", "reset").ok().stdout == "all keys reset to default\n"
    assert run("config", "list", "--json").ok().json() == typed(DEFAULTS)


@pytest.mark.parametrize("command", [("get", "nope"), ("reset", "nope"), ("set", "nope", "1")])
def test_unknown_config_key_is_an_error(
    run: Run, snapshot: Snapshot, command: tuple[str, ...]
) -> None:
    run("config", "set", "max-retries", "2").ok()
    before = snapshot()
    message = run("config", *command).error("unknown config key", "nope", code=1)
    assert "max-retries" in message  # lists the known keys
    assert snapshot() == before


def test_config_is_stored_in_the_database_file(run: Run, db: str, tmp_path: Path) -> None:
    run("config", "set", "grace-period", "12").ok()
    other_db = str(tmp_path / "other.db")
    run("--db", other_db, "db", "migrate").ok()
    # Another database has its own settings.
    assert run("--db", other_db, "config", "get", "grace-period").ok().stdout == "60\n"
    assert run("config", "get", "grace-period").ok().stdout == "12\n"


# -- db migrate / ping ----------------------------------------------------------------------


def test_db_migrate_creates_the_schema(run: Run, db: str) -> None:
    latest = stored.latest_schema(db)
    result = run("db", "migrate").ok()
    assert result.stdout.startswith(f"schema version {latest} ")
    assert stored.schema_version(db) == latest
    assert run("db", "migrate").ok().stdout == f"schema version {latest} (nothing to apply)\n"


@pytest.mark.uncreated
def test_db_migrate_on_a_new_database_reports_what_it_applied(run: Run, db: str) -> None:
    latest = stored.latest_schema(db)
    every = ", ".join(str(v) for v in range(1, latest + 1))
    assert run("db", "migrate").ok().stdout == f"schema version {latest} (applied {every})\n"


def test_ping_answers(run: Run, db: str, backend: str) -> None:
    result = run("ping").ok()
    assert result.stdout.startswith(f"ok: {stored.PRODUCT[backend]} ")
    if backend == "sqlite":
        assert db in result.stdout

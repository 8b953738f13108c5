"""Reading and editing jobs: `list`, `show`, `logs`, `status`, `cancel`, `purge`, `update`.

Jobs reach their states through the store (`put`), the way a worker would move them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from queuectl.models import RunResult, WorkerRegistration
from queuectl.store import open_store
from tests.cli import stored
from tests.cli.conftest import Put, Run, Snapshot, StoredIds

STATES = ["pending", "processing", "completed", "failed", "dead", "cancelled"]
JSON_KEYS = {
    "id",
    "command",
    "state",
    "attempts",
    "max_retries",
    "priority",
    "queue",
    "run_at",
    "timeout",
    "created_at",
    "updated_at",
}
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def epoch(text: str) -> float:
    assert ISO_UTC.match(text), text
    return datetime.fromisoformat(text).timestamp()


@pytest.fixture
def one_per_state(put: Put) -> None:
    """One job in each of the six states, enqueued in STATES order (ids = state names)."""
    for state in STATES:
        put(state, state, command=f"echo {state}")


# -- list ---------------------------------------------------------------------------------


def test_list_on_an_empty_queue(run: Run) -> None:
    assert run("list").ok().stdout.strip() == "no jobs"
    assert run("list", "--json").ok().json() == []


def test_list_json_has_the_documented_keys_and_iso_utc_times(run: Run) -> None:
    run("enqueue", '{"id":"j1","command":"echo hi","priority":2,"timeout":5}').ok()

    [job] = run("list", "--json").ok().json()

    assert set(job) >= JSON_KEYS
    assert job["id"] == "j1"
    assert job["command"] == "echo hi"
    assert job["state"] == "pending"
    assert (job["attempts"], job["max_retries"], job["priority"]) == (0, 3, 2)
    assert (job["queue"], job["timeout"]) == ("default", 5)
    for key in ("run_at", "created_at", "updated_at"):
        assert abs(epoch(job[key]) - time.time()) < 60, key


def test_list_is_newest_first(run: Run, tmp_path: Path) -> None:
    for n in range(1, 4):
        run("enqueue", f'{{"id":"single-{n}","command":"true"}}').ok()
    bulk = "\n".join(f'{{"id":"bulk-{n}","command":"true"}}' for n in range(1, 4))
    run("enqueue", "--file", "-", input=bulk).ok()

    ids = [j["id"] for j in run("list", "--json").ok().json()]

    assert ids == ["bulk-3", "bulk-2", "bulk-1", "single-3", "single-2", "single-1"]


def test_list_table_shows_each_job_once_with_its_state(run: Run, one_per_state: None) -> None:
    result = run("list").ok()
    for state in STATES:
        rows = [line for line in result.lines if re.search(rf"\b{state}\b.*\b{state}\b", line)]
        assert rows, f"no row for the {state} job in:\n{result.stdout}"
    assert "ID" in result.stdout and "STATE" in result.stdout


@pytest.mark.parametrize("state", STATES)
def test_list_filters_by_state(run: Run, one_per_state: None, state: str) -> None:
    jobs = run("list", "--state", state, "--json").ok().json()
    assert [(j["id"], j["state"]) for j in jobs] == [(state, state)]

    table = run("list", "--state", state.upper()).ok().stdout  # case-insensitive
    others = [s for s in STATES if s != state]
    assert state in table
    assert not any(re.search(rf"\b{other}\b", table) for other in others), table


def test_list_filters_by_queue_and_state_together(run: Run, put: Put) -> None:
    put("a-pending", "pending", queue="alpha")
    put("b-pending", "pending", queue="beta")
    put("a-dead", "dead", queue="alpha-dead")
    run("enqueue", '{"id":"a-pending-2","command":"true","queue":"alpha"}').ok()

    alpha = [j["id"] for j in run("list", "--queue", "alpha", "--json").ok().json()]
    assert alpha == ["a-pending-2", "a-pending"]
    pending = run("list", "--queue", "beta", "--state", "pending", "--json").ok().json()
    assert [j["id"] for j in pending] == ["b-pending"]
    assert run("list", "--queue", "beta", "--state", "dead", "--json").ok().json() == []
    assert run("list", "--queue", "nowhere", "--json").ok().json() == []


def test_list_limit_keeps_the_newest(run: Run) -> None:
    text = "\n".join(f'{{"id":"l{n}","command":"true"}}' for n in range(5))
    run("enqueue", "--file", "-", input=text).ok()

    two = run("list", "--limit", "2", "--json").ok().json()
    assert [j["id"] for j in two] == ["l4", "l3"]
    everything = run("list", "--limit", "0", "--json").ok().json()
    assert len(everything) == 5

    table = run("list", "--limit", "2").ok()
    assert "l4" in table.stdout and "l3" in table.stdout and "l2" not in table.stdout
    assert "--limit 0" in table.stderr  # says the list was cut


def test_list_default_limit_is_100(run: Run) -> None:
    text = "\n".join(f'{{"id":"m{n:03d}","command":"true"}}' for n in range(120))
    run("enqueue", "--file", "-", input=text).ok()

    jobs = run("list", "--json").ok().json()
    assert len(jobs) == 100
    assert jobs[0]["id"] == "m119"


def test_generated_ids_stay_whole_in_the_list_table(run: Run) -> None:
    enqueued = run("enqueue", '{"command":"echo a fairly long command to fill the column"}')
    job_id = enqueued.ok().stdout.strip()
    run("enqueue", '{"command":"true","delay":30}').ok()
    assert job_id in run("list").ok().stdout


# -- show -----------------------------------------------------------------------------------


def test_show_text_lists_every_set_field(run: Run) -> None:
    run("enqueue", '{"id":"s1","command":"echo hi","queue":"q9","priority":4}').ok()
    out = run("show", "s1").ok().stdout
    fields = dict(re.findall(r"^(\w+):\s+(.*)$", out, flags=re.MULTILINE))
    assert fields["id"] == "s1"
    assert fields["command"] == "echo hi"
    assert fields["state"] == "pending"
    assert fields["queue"] == "q9"
    assert fields["priority"] == "4"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+ \(.+\)", fields["created_at"])


def test_show_json_includes_the_attempt_log(run: Run, put: Put) -> None:
    put("f1", "failed", command="boom", stdout=b"partial out\n", stderr=b"it broke\n", exit_code=3)

    job = run("show", "f1", "--json").ok().json()

    assert set(job) >= JSON_KEYS
    assert (job["state"], job["attempts"], job["max_retries"]) == ("failed", 1, 1)
    assert job["exit_code"] == 3
    assert "3" in job["last_error"]
    [attempt] = job["attempt_log"]
    assert attempt["attempt"] == 1
    assert attempt["exit_code"] == 3
    assert (attempt["stdout"], attempt["stderr"]) == ("partial out\n", "it broke\n")
    assert ISO_UTC.match(attempt["started_at"]) and ISO_UTC.match(attempt["finished_at"])
    # A failed job's run_at is its retry time (an hour away here).
    assert epoch(job["run_at"]) - time.time() > 3000


def test_show_text_includes_attempt_output(run: Run, put: Put) -> None:
    put("c1", "completed", stdout=b"all good\n", stderr=b"a warning\n")
    out = run("show", "c1").ok().stdout
    assert "completed" in out
    assert "all good" in out and "a warning" in out


# -- logs -----------------------------------------------------------------------------------


def test_logs_prints_stdout_and_stderr_of_the_last_attempt(run: Run, put: Put) -> None:
    put("l1", "completed", stdout=b"line 1\nline 2\n", stderr=b"warn\n")
    result = run("logs", "l1").ok()
    assert result.stdout == "line 1\nline 2\n"
    assert result.stderr == "warn\n"


def test_logs_attempt_selects_an_earlier_attempt(run: Run, put: Put, db: str) -> None:
    put("r1", "failed", stdout=b"first try\n", stderr=b"first err\n")
    run("update", '{"id":"r1","state":"pending"}').ok()  # retry now, not in an hour
    store = open_store(db)
    try:
        [job] = store.claim_jobs("w2", ["t-r1"], 1, 60)
        assert job.attempts == 2
        store.complete_job("r1", "w2", 2, RunResult(0, None, b"second try\n", b""))
    finally:
        store.close()

    assert run("logs", "r1").ok().stdout == "second try\n"
    first = run("logs", "r1", "--attempt", "1").ok()
    assert (first.stdout, first.stderr) == ("first try\n", "first err\n")
    run("logs", "r1", "--attempt", "7").error("attempt 7", code=1)


def test_logs_of_a_job_that_never_ran_is_an_error(run: Run) -> None:
    run("enqueue", '{"id":"fresh","command":"true"}').ok()
    result = run("logs", "fresh")
    result.error("fresh", code=1)
    assert result.stdout == ""


def test_logs_never_ran_message_is_readable(run: Run) -> None:
    run("enqueue", '{"id":"fresh","command":"true"}').ok()
    assert "no any" not in run("logs", "fresh").error(code=1)


# -- status -----------------------------------------------------------------------------------


def test_status_json_on_an_empty_queue_has_all_six_states(run: Run) -> None:
    report = run("status", "--json").ok().json()
    assert report["jobs"] == dict.fromkeys(STATES, 0)
    assert report["workers"] == []
    assert report["scheduled"] == 0


def test_status_counts_jobs_per_state_and_scheduled(run: Run, one_per_state: None) -> None:
    run("enqueue", '{"id":"p2","command":"true"}').ok()
    run("enqueue", '{"id":"later","command":"true","delay":600}').ok()
    run("enqueue", '{"id":"at","command":"true","run_at":"2099-01-01T00:00:00Z"}').ok()

    report = run("status", "--json").ok().json()

    assert report["jobs"] == {
        "pending": 4,
        "processing": 1,
        "completed": 1,
        "failed": 1,
        "dead": 1,
        "cancelled": 1,
    }
    assert report["scheduled"] == 2

    text = run("status").ok().stdout
    for state, n in report["jobs"].items():
        assert re.search(rf"\b{state}\b\D*\b{n}\b", text), f"{state} {n} not in:\n{text}"
    assert re.search(r"\btotal\b\D*\b9\b", text)
    assert "2 pending job(s) scheduled" in text


def test_status_lists_live_workers_only(run: Run, db: str, put: Put) -> None:
    put("busy", "processing")
    store = open_store(db)
    try:
        store.now()
        for worker_id in ("test-worker", "gone"):
            info = WorkerRegistration(worker_id, "host-a", 4242, ("default",), 3)
            store.register_worker(info)
    finally:
        store.close()
    stored.backdate_heartbeat(db, "gone", 86400)  # its heartbeat stopped a day ago

    report = run("status", "--json").ok().json()

    [worker] = report["workers"]
    assert worker["id"] == "test-worker"
    assert (worker["host"], worker["pid"], worker["slots"]) == ("host-a", 4242, 3)
    assert worker["running"] == ["busy"]
    assert ISO_UTC.match(worker["heartbeat_at"])
    assert "Workers alive: 1" in run("status").ok().stdout


# -- cancel -----------------------------------------------------------------------------------


def test_cancel_waiting_jobs(run: Run, put: Put) -> None:
    put("p", "pending")
    put("f", "failed")
    result = run("cancel", "p", "f").ok()
    assert result.lines == ["p: cancelled", "f: cancelled"]
    states = {j["id"]: j["state"] for j in run("list", "--json").ok().json()}
    assert states == {"p": "cancelled", "f": "cancelled"}


def test_cancel_a_running_job_asks_its_worker(run: Run, put: Put) -> None:
    put("r", "processing")
    result = run("cancel", "r").ok()
    assert result.stdout.startswith("r: running")
    job = run("show", "r", "--json").ok().json()
    assert job["state"] == "processing"
    assert job["cancel_requested"] is True


@pytest.mark.parametrize("state", ["completed", "dead", "cancelled"])
def test_cancel_a_finished_job_is_an_error_and_changes_nothing(
    run: Run, put: Put, snapshot: Snapshot, state: str
) -> None:
    put("done", state)
    before = snapshot()
    run("cancel", "done").error("done", state, code=1)
    assert snapshot() == before


def test_cancel_with_an_unknown_id_cancels_none(run: Run, put: Put) -> None:
    put("ok", "pending")
    result = run("cancel", "ok", "missing")
    result.error("missing", code=1)
    assert result.stdout == ""
    assert run("show", "ok", "--json").ok().json()["state"] == "pending"


# -- purge ------------------------------------------------------------------------------------


def test_purge_deletes_only_the_given_final_state(
    run: Run, one_per_state: None, stored_ids: StoredIds, db: str
) -> None:
    assert "completed" in stored.attempt_owners(db)
    result = run("purge", "--state", "completed").ok()
    assert result.stdout == "purged 1 job\n"
    assert stored_ids() == [s for s in STATES if s != "completed"]
    # its attempt records went with it
    assert "completed" not in stored.attempt_owners(db)


def test_purge_several_states_at_once(run: Run, one_per_state: None, stored_ids: StoredIds) -> None:
    result = run("purge", "--state", "dead", "--state", "CANCELLED").ok()
    assert result.stdout == "purged 2 jobs\n"
    assert stored_ids() == ["pending", "processing", "completed", "failed"]


def test_purge_older_than_keeps_recent_jobs(
    run: Run, put: Put, db: str, stored_ids: StoredIds
) -> None:
    put("old-done", "completed")
    put("new-done", "completed")
    put("old-pending", "pending")
    stored.backdate_job(db, "old-done", 8 * 86400)
    stored.backdate_job(db, "old-pending", 8 * 86400)

    assert run("purge", "--state", "completed", "--older-than", "7d").ok().stdout == (
        "purged 1 job\n"
    )
    assert stored_ids() == ["new-done", "old-pending"]
    assert run("purge", "--state", "completed", "--older-than", "1h").ok().stdout == (
        "purged 0 jobs\n"
    )


@pytest.mark.before_store
@pytest.mark.parametrize("state", ["pending", "processing", "failed", "bogus"])
def test_purge_refuses_non_final_or_unknown_states(
    run: Run, one_per_state: None, snapshot: Snapshot, state: str
) -> None:
    before = snapshot()
    run("purge", "--state", state).error("--state", code=2)
    assert snapshot() == before


@pytest.mark.before_store
def test_purge_bad_age_is_an_error(run: Run, one_per_state: None, snapshot: Snapshot) -> None:
    before = snapshot()
    run("purge", "--state", "completed", "--older-than", "a week").error("duration", code=1)
    assert snapshot() == before


@pytest.mark.before_store
def test_purge_without_state_is_a_one_line_error(run: Run, one_per_state: None) -> None:
    run("purge").error("--state", code=2)


# -- update -----------------------------------------------------------------------------------


def test_update_changes_the_given_fields_only(run: Run) -> None:
    run("enqueue", '{"id":"u","command":"echo old","priority":1,"timeout":9}').ok()
    before = run("show", "u", "--json").ok().json()

    changes = {
        "id": "u",
        "command": "echo new",
        "priority": 8,
        "queue": "moved",
        "max_retries": 0,
        "run_at": "2040-01-01T00:00:00Z",
    }
    assert run("update", json.dumps(changes)).ok().stdout == "u: pending\n"

    after = run("show", "u", "--json").ok().json()
    assert after["command"] == "echo new"
    assert (after["priority"], after["queue"], after["max_retries"]) == (8, "moved", 0)
    assert after["run_at"].startswith("2040-01-01T00:00:00")
    assert after["timeout"] == 9  # untouched
    assert after["created_at"] == before["created_at"]


@pytest.mark.parametrize("state", ["dead", "cancelled", "completed", "failed"])
def test_update_state_pending_requeues(run: Run, put: Put, state: str) -> None:
    put("again", state)
    assert run("update", '{"id":"again","state":"pending"}').ok().stdout == "again: pending\n"
    job = run("show", "again", "--json").ok().json()
    assert job["state"] == "pending"
    assert epoch(job["run_at"]) <= time.time() + 0.01  # due now
    if state != "failed":
        assert job["attempts"] == 0


def test_update_a_running_job_is_refused(run: Run, put: Put, snapshot: Snapshot) -> None:
    put("busy", "processing")
    before = snapshot()
    run("update", '{"id":"busy","priority":5}').error("busy", "running", code=1)
    assert snapshot() == before


def test_update_to_a_non_pending_state_message_is_readable(run: Run) -> None:
    run("enqueue", '{"id":"u","command":"true"}').ok()
    message = run("update", '{"id":"u","state":"dead"}').error(code=1)
    assert "JobState" not in message and "dead" in message


@pytest.mark.not_fast  # a real worker process
def test_show_prints_output_tails_not_whole_outputs(run: Run, db: str) -> None:
    """A job at a high output-limit: `show --json` stays a few times the tail it shows
    (it printed 201 MB for a job at the 16 MiB cap), and says how much there is."""
    from queuectl.serialize import SHOW_TAIL_BYTES

    run("config", "set", "output-limit", "4000000").ok()
    run("enqueue", "--id", "big", "--", "head -c 3000000 /dev/zero; echo end").ok()
    worker = [sys.executable, "-m", "queuectl", "--db", db, "worker", "start", "--burst"]
    subprocess.run(worker, check=True, capture_output=True, timeout=120)
    shown = run("show", "big", "--json").ok()
    assert len(shown.stdout) < 8 * SHOW_TAIL_BYTES
    (attempt,) = shown.json()["attempt_log"]
    assert attempt["stdout_bytes"] == 3_000_004 and attempt["stdout"].endswith("end\n")
    assert len(run("show", "big").ok().stdout) < 8 * SHOW_TAIL_BYTES


def test_show_at_the_output_cap_prints_tails_once(run: Run, put: Put) -> None:
    """Both streams at the cap (16 MiB each) of what JSON escapes most (a control byte is
    six characters, an undecodable one three bytes): `show` and `show --json` print each
    tail once, a small fraction of the cap, and --json counts the whole streams."""
    from queuectl.config import MAX_OUTPUT_LIMIT
    from queuectl.serialize import SHOW_TAIL_BYTES

    tail_out = b"\x01" * (MAX_OUTPUT_LIMIT - 4) + b"end\n"
    put("big", "completed", stdout=tail_out, stderr=b"\x80" * MAX_OUTPUT_LIMIT)
    shown = run("show", "big", "--json").ok()
    assert len(shown.stdout.encode()) < 16 * SHOW_TAIL_BYTES  # 6 + 3 bytes a byte shown
    (attempt,) = shown.json()["attempt_log"]
    assert attempt["stdout_bytes"] == attempt["stderr_bytes"] == MAX_OUTPUT_LIMIT
    assert attempt["stdout"].endswith("\x01end\n") and len(attempt["stdout"]) == SHOW_TAIL_BYTES
    assert len(run("show", "big").ok().stdout.encode()) < 16 * SHOW_TAIL_BYTES

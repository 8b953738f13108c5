"""`queuectl enqueue --unique-key`: one waiting job per key, through the real CLI, on
every backend whose data outlives a process (SQLite, PostgreSQL, Redis)."""

from __future__ import annotations

import json

from tests.cli.conftest import Put, Run, Snapshot

KEY = "sync-user-42"


def enqueue(run: Run, *args: str) -> str:
    """Enqueue `echo <args>` with KEY; the id printed."""
    return run("enqueue", "--unique-key", KEY, *args).ok().stdout.strip()


def test_a_second_enqueue_prints_the_waiting_job_and_adds_nothing(run: Run) -> None:
    first = enqueue(run, "--", "./sync.sh", "42")
    again = run("enqueue", "--unique-key", KEY, "--", "./sync.sh", "42").ok()
    assert again.stdout == f"{first}\n"
    assert again.stderr == (
        f"duplicate: unique key '{KEY}' is held by waiting job {first}; nothing added\n"
    )
    as_json = run("enqueue", "--unique-key", KEY, "--json", "--", "true").ok().json()
    assert as_json == {"ids": [first], "duplicate": True, "replaced": False}
    listed = run("list", "--json").ok().json()
    assert [(job["id"], job["unique_key"]) for job in listed] == [(first, KEY)]
    assert run("show", first, "--json").ok().json()["unique_key"] == KEY
    assert f"unique_key:       {KEY}" in run("show", first).ok().stdout


def test_on_duplicate_error_exits_1_and_changes_nothing(run: Run, snapshot: Snapshot) -> None:
    first = enqueue(run, "--", "true")
    before = snapshot()
    result = run("enqueue", "--unique-key", KEY, "--on-duplicate", "error", "--", "true")
    result.error(f"unique key '{KEY}' is held by waiting job '{first}'", code=1)
    assert snapshot() == before


def test_replace_debounces_a_burst_of_delayed_enqueues(run: Run) -> None:
    ids = {
        enqueue(run, "--delay", "30s", "--on-duplicate", "replace", "--", f"echo {n}")
        for n in range(4)
    }
    assert len(ids) == 1
    [job] = run("list", "--json").ok().json()
    assert (job["id"], job["command"], job["state"]) == (ids.pop(), "echo 3", "pending")
    assert job["run_at"] > job["created_at"]


def test_a_running_job_is_not_replaced(run: Run, put: Put) -> None:
    put("busy", "processing", unique_key=KEY)
    result = run("enqueue", "--unique-key", KEY, "--on-duplicate", "replace", "--", "echo new")
    assert result.ok().stdout == "busy\n"
    assert "running: not replaced" in result.stderr
    assert run("show", "busy", "--json").ok().json()["command"] == "true"


def test_the_key_is_free_once_the_job_completed(run: Run, put: Put) -> None:
    put("done", "completed", unique_key=KEY)
    fresh = enqueue(run, "--", "true")
    assert fresh != "done"
    assert run("enqueue", "--unique-key", KEY, "--", "true").ok().stdout == f"{fresh}\n"


def test_a_requeue_of_a_finished_job_whose_key_is_held_is_refused(
    run: Run, put: Put, snapshot: Snapshot
) -> None:
    put("old", "dead", unique_key=KEY)
    put("gone", "cancelled")
    new = enqueue(run, "--", "true")
    before = snapshot()
    for args in (("retry", "old"), ("dlq", "retry", "old"), ("retry", "gone", "old")):
        run(*args).error(f"cannot requeue job 'old': its unique key '{KEY}' is held by job '{new}'")
    run("update", '{"id": "old", "state": "pending"}').error("held by job")
    assert snapshot() == before


def test_file_lines_later_duplicates_and_the_option_for_every_line(
    run: Run, tmp_path: object
) -> None:
    specs = [
        {"id": "a", "command": "echo a", "unique_key": KEY},
        {"id": "b", "command": "echo b"},
        {"id": "c", "command": "echo c", "unique_key": KEY, "on_duplicate": "replace"},
    ]
    text = "\n".join(json.dumps(spec) for spec in specs)
    result = run("enqueue", "--file", "-", "--json", input=text).ok()
    assert result.json() == {
        "ids": ["a", "b", "a"],
        "duplicate": [False, False, True],
        "replaced": [False, False, True],
    }
    assert "enqueued 2 jobs; 1 duplicate" in result.stderr
    assert run("show", "a", "--json").ok().json()["command"] == "echo c"
    line = json.dumps({"id": "d", "command": "true", "unique_key": KEY})
    refused = run("enqueue", "--file", "-", "--on-duplicate", "error", input=f"{line}\n")
    refused.error("line 1: unique key", "held by waiting job 'a'")
    assert run("show", "d").exit_code != 0

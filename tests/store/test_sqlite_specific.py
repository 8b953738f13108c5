"""What only the SQLite backend promises: the file, its URL forms, WAL, locking, the plan.

Everything a backend shares is in test_conformance.py.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from queuectl.errors import StoreError
from queuectl.models import JobChanges, JobState, RunResult
from queuectl.store import Store, open_store, sqlite_connect
from queuectl.store.queries import latest_migration
from queuectl.store.sqlite import SqliteStore
from queuectl.store.sqlite_base import Q as SQLITE_QUERIES
from tests.conftest import make_job
from tests.helpers import begin_spilled


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "q.db"


@pytest.fixture
def sqlite_store(db_path: Path) -> Iterator[Store]:
    opened = open_store(str(db_path))
    try:
        yield opened
    finally:
        opened.close()


def raw_connect(path: Path) -> closing[sqlite3.Connection]:
    return closing(sqlite3.connect(path, isolation_level=None))


def tables(path: Path) -> set[str]:
    with raw_connect(path) as raw:
        return {row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def assert_one_line_error(err: pytest.ExceptionInfo[StoreError], *parts: str) -> None:
    message = str(err.value)
    assert "\n" not in message
    for part in parts:
        assert part in message
        message = message.replace(part, "<seen>", 1)  # a path must not also count as a word


def test_opening_creates_the_file_in_wal_mode(db_path: Path) -> None:
    assert not db_path.exists()
    store = open_store(str(db_path))
    try:
        assert db_path.is_file()
        assert db_path.read_bytes().startswith(b"SQLite format 3\x00")
        with raw_connect(db_path) as raw:
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        store.close()


@pytest.mark.parametrize(
    "form",
    [
        "path",
        "sqlite:////absolute",
        "sqlite:///relative",
        "~/path",
    ],
)
def test_url_forms_name_the_same_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    # A folder no root directory has: a form read the wrong way fails instead of
    # writing a database somewhere outside tmp_path.
    folder = tmp_path / "queuectl-url-test"
    folder.mkdir()
    target = folder / "q.db"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    url = {
        "path": str(target),
        "sqlite:////absolute": f"sqlite:///{target}",  # target is absolute: four slashes
        "sqlite:///relative": "sqlite:///queuectl-url-test/q.db",
        "~/path": "~/queuectl-url-test/q.db",
    }[form]
    store = open_store(url)
    try:
        store.enqueue_jobs([make_job("through-url")], 3)
    finally:
        store.close()
    assert target.is_file()
    plain = open_store(str(target))
    try:
        assert plain.get_job("through-url") is not None
    finally:
        plain.close()


def test_a_file_that_is_not_a_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    content = b"shopping list, certainly not a database\n" * 200
    path.write_bytes(content)
    with pytest.raises(StoreError) as err:
        open_store(str(path))
    assert_one_line_error(err, str(path), "not a SQLite database")
    assert path.read_bytes() == content


def test_a_database_of_another_application_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "music.db"
    with raw_connect(path) as raw:
        raw.execute("CREATE TABLE songs (title TEXT)")
        raw.execute("INSERT INTO songs VALUES ('So What')")
    with pytest.raises(StoreError) as err:
        open_store(str(path))
    assert_one_line_error(err, str(path), "not a queuectl")
    assert tables(path) == {"songs"}
    with raw_connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_a_missing_directory_is_refused_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "q.db"
    with pytest.raises(StoreError) as err:
        open_store(str(path))
    assert_one_line_error(err, str(path.parent), "does not exist")
    assert not path.parent.exists()


def test_a_database_locked_too_long_fails_cleanly_and_changes_nothing(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUEUECTL_SQLITE_BUSY_TIMEOUT", "0.2")  # read when used
    store = open_store(str(db_path))
    try:
        store.enqueue_jobs([make_job("before")], 3)
        with raw_connect(db_path) as other:
            other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            try:
                # WAL: readers go on while a writer holds the lock.
                assert [job.id for job in store.list_jobs()] == ["before"]
                started = time.monotonic()
                with pytest.raises(StoreError) as err:
                    store.enqueue_jobs([make_job("blocked")], 3)
                assert time.monotonic() - started < 5  # the 0.2 s timeout, not the 10 s default
                assert "locked" in str(err.value).replace(str(db_path), "<path>")
                with pytest.raises(StoreError) as err:
                    store.claim_jobs("w1", None, 1, 30)
                assert "locked" in str(err.value).replace(str(db_path), "<path>")
            finally:
                other.execute("ROLLBACK")
        assert store.get_job("blocked") is None
        before = store.get_job("before")
        assert before is not None
        assert (before.state, before.attempts) == (JobState.PENDING, 0)
        assert store.list_attempts("before") == []
        assert store.enqueue_jobs([make_job("after")], 3) == ["after"]  # usable again
    finally:
        store.close()


@pytest.mark.parametrize("queues", [None, ["a", "b"]], ids=["all-queues", "some-queues"])
def test_claim_walks_the_jobs_claim_index_without_sorting(
    sqlite_store: Store, db_path: Path, queues: list[str] | None
) -> None:
    sqlite_store.enqueue_jobs([make_job(queue="a", priority=n % 3) for n in range(20)], 3)
    params = {
        "worker_id": "w1",
        "queues": None if queues is None else json.dumps(queues),
        "limit": 5,
        "lease_seconds": 30.0,
        "now": time.time(),
    }
    with raw_connect(db_path) as raw:
        plan = [
            row[3]
            for row in raw.execute("EXPLAIN QUERY PLAN " + SQLITE_QUERIES["claim_jobs"], params)
        ]
    assert any("USING INDEX jobs_claim" in step for step in plan), plan
    # Sorting would mean reading every waiting job: the index gives the order.
    assert not any("TEMP B-TREE" in step for step in plan), plan


def test_migration_2_numbers_attempts_on_from_the_history(
    tmp_path: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database written before attempt numbers were stored: a job requeued back then
    has records numbered 1, 2, 1. After the upgrade its next attempt is 3, and a job
    that was running keeps the number of its open record."""
    import shutil

    from queuectl.store import queries

    v1 = tmp_path / "store-v1"
    shutil.copytree(queries._HERE, v1, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    for script in (v1 / "migrations" / "sqlite").glob("*.sql"):
        if not script.name.startswith("0001_"):
            script.unlink()
    monkeypatch.setattr(queries, "_HERE", str(v1))
    open_store(str(db_path)).close()  # schema version 1
    with raw_connect(db_path) as conn:
        for job_id, state, attempts in (("requeued", "completed", 1), ("running", "processing", 2)):
            conn.execute(
                "INSERT INTO jobs (id, command, state, attempts, max_retries, run_at,"
                " created_at, updated_at, worker_id, lease_expires_at)"
                " VALUES (?, 'true', ?, ?, 3, 0, 0, 0, 'w-old', 9e9)",
                (job_id, state, attempts),
            )
        for job_id, number in (("requeued", 1), ("requeued", 2), ("requeued", 1), ("running", 1)):
            conn.execute(
                "INSERT INTO attempts (job_id, attempt, worker_id, started_at, finished_at)"
                " VALUES (?, ?, 'w-old', 0, 1)",
                (job_id, number),
            )
        conn.execute(
            "INSERT INTO attempts (job_id, attempt, worker_id, started_at)"
            " VALUES ('running', 2, 'w-old', 0)"
        )
    monkeypatch.undo()

    store = open_store(str(db_path))  # migrates to the latest version
    try:
        requeued, running = store.get_job("requeued"), store.get_job("running")
        assert requeued is not None and requeued.last_attempt == 2
        assert running is not None and running.last_attempt == 2
        # The running job's worker finishes its open attempt under its number...
        assert store.complete_job("running", "w-old", 2, RunResult(0, None))
        assert [a.finished_at is not None for a in store.list_attempts("running")] == [True, True]
        # ...and the requeued one runs again as attempt 3.
        store.update_job("requeued", JobChanges(requeue=True))
        [again] = store.claim_jobs("w-new", None, 1, 60)
        assert (again.id, again.attempts, again.last_attempt) == ("requeued", 1, 3)
        assert [a.attempt for a in store.list_attempts("requeued")] == [1, 2, 1, 3]
    finally:
        store.close()


def test_opening_applies_every_migration_file(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "q.db"))
    try:
        assert store.schema_version() == latest_migration("sqlite")
    finally:
        store.close()


def test_scheduled_count_seeks_per_queue_instead_of_scanning_pending_jobs(tmp_path: Path) -> None:
    """`status` counts jobs scheduled for later with a range per queue: a plan that scans
    the pending index reads every pending job (155 ms at a million)."""
    path = tmp_path / "q.db"
    open_store(str(path)).close()
    with closing(sqlite3.connect(path)) as conn:
        plan = conn.execute(
            "EXPLAIN QUERY PLAN " + SQLITE_QUERIES["count_scheduled"],
            {"queue": None, "now": time.time()},
        ).fetchall()
    details = [row[-1] for row in plan]
    assert any(d.startswith("SEARCH j USING INDEX jobs_pending_run_at") for d in details), details
    assert not any(d.startswith("SCAN j") for d in details), details


def test_a_bulk_enqueue_on_a_full_disk_says_the_disk_is_full(db_path: Path) -> None:
    """SQLite rolls the whole transaction back when the disk fills; the error must be that,
    not the failed RELEASE of a savepoint that no longer exists."""
    store = SqliteStore(str(db_path))
    try:
        store.enqueue_jobs([make_job("before")], 3)
        pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
        store._conn.execute(f"PRAGMA max_page_count = {pages + 2}")  # a disk about to fill
        bulk = [make_job(f"bulk-{i}", command="echo " + "x" * 500) for i in range(400)]
        with pytest.raises(StoreError) as err:
            store.enqueue_jobs(bulk, 3)
        message = str(err.value).replace(str(db_path), "<path>")
        assert "\n" not in message
        assert "disk is full" in message
        assert "savepoint" not in message
        assert [job.id for job in store.list_jobs()] == ["before"]
        assert store._conn.execute("SELECT count(*) FROM job_counts WHERE n > 0").fetchone()[0] == 1
    finally:
        store.close()


def test_a_starting_worker_waits_for_a_lock_another_process_holds(db_path: Path) -> None:
    """The worker's pragmas read the schema: they wait for a lock like every other
    statement instead of failing at once on a file other processes are opening."""
    with closing(sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)) as other:
        other.execute("CREATE TABLE unrelated (a)")
        other.execute("BEGIN EXCLUSIVE")
        other.execute("INSERT INTO unrelated VALUES (1)")
        released = threading.Timer(0.3, lambda: other.execute("COMMIT"))
        released.start()
        try:
            conn = sqlite_connect.connect_file(str(db_path), durable=False)
        finally:
            released.join()
        with closing(conn):
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
            assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 0  # then waits itself


@pytest.mark.parametrize("name", ["release_children", "cancel_children"])
def test_a_release_finds_the_jobs_after_from_job_after_not_every_pending_job(
    tmp_path: Path, name: str
) -> None:
    """A finish releases the jobs after the job by their ids in job_after: a plan that walks
    jobs_state reads every pending job at each finish (a fan-in of 10,000 jobs drained at a
    third of the rate of independent ones)."""
    path = tmp_path / "q.db"
    open_store(str(path)).close()
    params = {"ids": '["p"]', "modes": '["completed"]', "note": "", "now": time.time()}
    with closing(sqlite3.connect(path)) as conn:
        plan = conn.execute("EXPLAIN QUERY PLAN " + SQLITE_QUERIES[name], params).fetchall()
    details = [row[-1] for row in plan]
    assert details[0].startswith("SEARCH jobs USING INDEX") and "(id=?)" in details[0], details
    assert not any("jobs_state" in d or d.startswith("SCAN jobs") for d in details), details


def test_a_commit_under_way_is_looked_at_again_not_waited_for(
    sqlite_store: Store, db_path: Path
) -> None:
    """The change waiter hears the WAL written before the commit is visible; `wait(0)`
    (a worker's loop) does not wait for it there, it says when to look again."""
    import select

    waiter = sqlite_store.change_waiter()
    with closing(sqlite3.connect(db_path, isolation_level=None)) as writer:
        begin_spilled(writer)
        fd = waiter.fileno()
        assert fd is not None
        assert select.select([fd], [], [], 5)[0]  # the WAL was written...
        assert waiter.wait(0) is False  # ...nothing is committed: no waiting for it
        again = waiter.look_again_at()
        assert again is not None
        while time.monotonic() < again:  # the time to look again comes, and stays
            time.sleep(0.0005)
        assert waiter.look_again_at() == again
        assert waiter.wait(0) is False  # looked again: still nothing committed
        later = waiter.look_again_at()
        assert later is None or later > again
        writer.execute("COMMIT")
    assert waiter.wait(0) is True
    assert waiter.look_again_at() is None
    waiter.close()

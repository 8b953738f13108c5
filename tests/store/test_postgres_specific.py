"""What only the PostgreSQL backend does: LISTEN/NOTIFY, poll-only mode, reconnecting,
the server's clock, SKIP LOCKED claims across connections, connection errors, migrations
from many processes. The behaviour both backends share is in the conformance suite.

Each test runs on a database of its own on the server at QUEUECTL_TEST_POSTGRES.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from queuectl.errors import InvalidStateChange, StoreError, StoreUnavailable
from queuectl.models import JobChanges, JobState, NewJob, RunResult
from queuectl.store import open_store
from queuectl.store.queries import latest_migration, load_queries

try:
    import psycopg

    from queuectl.store.postgres import PostgresStore
    from queuectl.store.postgres_connect import Row
    from tests import pg_helpers
except ModuleNotFoundError as err:  # pragma: no cover - the `postgres` extra is missing
    if err.name != "psycopg" or os.environ.get("CI") == "true":
        raise
    pytest.skip("psycopg is not installed", allow_module_level=True)

pytestmark = pytest.mark.postgres
Admin = psycopg.Connection[tuple[Any, ...]]
Stores = Callable[..., PostgresStore]  # the `stores` fixture: opens one more store

ROOT = Path(__file__).resolve().parents[2]
WAKE_WITHIN_S = 2.0  # a NOTIFY wakes a waiter in milliseconds; this only bounds a failure


@pytest.fixture
def pg_url() -> Iterator[str]:
    url = pg_helpers.create_test_database()  # skips (fails under CI) without a server
    try:
        yield url
    finally:
        pg_helpers.drop_test_database(url)


@pytest.fixture
def admin() -> Iterator[Admin]:
    with psycopg.connect(pg_helpers.postgres_admin_url(), autocommit=True) as conn:
        yield conn


@pytest.fixture
def stores(pg_url: str) -> Iterator[Stores]:
    """Opens PostgresStores on the test database (each its own connection); closes them."""
    opened: list[PostgresStore] = []

    def open_one(url: str = pg_url, durable: bool = True) -> PostgresStore:
        store = open_store(url, durable=durable)
        assert isinstance(store, PostgresStore)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


def connection(store: PostgresStore) -> psycopg.Connection[Row]:
    """The store's open connection (None only once it is closed or lost)."""
    assert store._conn is not None, "the store has no open connection"
    return store._conn


def backend_pid(store: PostgresStore) -> int:
    row = connection(store).execute("SELECT pg_backend_pid() AS pid").fetchone()
    assert row is not None
    return int(row["pid"])


def terminate(admin: Admin, pid: int) -> None:
    """Kill a server backend as a restart or an admin would, and wait until it is gone."""
    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    deadline = time.monotonic() + 10
    while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
        assert time.monotonic() < deadline, f"backend {pid} did not end"
        time.sleep(0.01)


def job(job_id: str, priority: int = 0, delay: float = 0.0) -> NewJob:
    return NewJob(id=job_id, command="true", priority=priority, delay=delay)


# -- LISTEN / NOTIFY ---------------------------------------------------------------------


def test_enqueue_on_another_connection_wakes_the_waiter(stores: Stores) -> None:
    worker, producer = stores(), stores()
    waiter = worker.change_waiter()
    try:
        with ThreadPoolExecutor(1) as pool:
            woke: Future[bool] = pool.submit(waiter.wait, 30)
            producer.enqueue_jobs([job("a")], 3)
            enqueued = time.monotonic()
            assert woke.result(timeout=30) is True
            assert time.monotonic() - enqueued < WAKE_WITHIN_S
    finally:
        waiter.close()


def test_waiter_times_out_when_nothing_happens(stores: Stores) -> None:
    waiter = stores().change_waiter()
    try:
        started = time.monotonic()
        assert waiter.wait(0.3) is False
        assert time.monotonic() - started >= 0.29
    finally:
        waiter.close()


def test_an_enqueue_of_many_jobs_is_one_wake_up(stores: Stores) -> None:
    store = stores()
    waiter = store.change_waiter()
    try:
        store.enqueue_jobs([job(f"j{n}") for n in range(50)], 3)  # one NOTIFY, not 50
        store.set_config("max-retries", "2")  # gives no worker anything to do: no NOTIFY
        assert waiter.wait(5) is True
        assert waiter.wait(0.2) is False
    finally:
        waiter.close()


# What must wake an idle worker is part of the store contract: see test_conformance.py.


@pytest.mark.parametrize("how", ["url", "env"])
def test_poll_only_mode_never_listens(
    stores: Stores, pg_url: str, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    if how == "env":
        monkeypatch.setenv("QUEUECTL_PG_POLL_ONLY", "1")
        store = stores()
    else:  # libpq would refuse the unknown parameter: the store must strip it
        store = stores(f"{pg_url}?queuectl_poll_only=1")
    store.enqueue_jobs([job("a")], 3)
    waiter = store.change_waiter()
    try:
        started = time.monotonic()
        assert waiter.wait(30) is False  # hands back at once-ish so the caller polls
        assert time.monotonic() - started < 5
        assert [j.id for j in store.claim_jobs("w1", None, 5, 30)] == ["a"]
    finally:
        waiter.close()


# -- lost connections -----------------------------------------------------------------


def test_a_read_reconnects_transparently(stores: Stores, admin: Admin) -> None:
    store = stores()
    store.enqueue_jobs([job("a")], 3)
    terminate(admin, backend_pid(store))
    found = store.get_job("a")
    assert found is not None and found.id == "a"


def test_a_write_after_a_lost_connection_fails_cleanly_then_works(
    stores: Stores, admin: Admin
) -> None:
    store = stores()
    store.enqueue_jobs([job("a")], 3)
    terminate(admin, backend_pid(store))  # returns once the backend is gone
    # Never retried inside the store (the server may have committed it just before the
    # loss): the write fails, as StoreUnavailable, and the caller decides.
    with pytest.raises(StoreUnavailable) as lost:
        store.enqueue_jobs([job("b")], 3)
    assert "\n" not in str(lost.value) and "connection" in str(lost.value)
    assert {j.id for j in store.list_jobs()} == {"a"}  # a read reconnects; "b" never landed
    store.enqueue_jobs([job("b")], 3)  # the caller's retry, on a new connection
    assert {j.id for j in store.list_jobs()} == {"a", "b"}
    assert store.claim_jobs("w1", None, 5, 30)


def test_the_waiter_listens_again_after_losing_its_connection(stores: Stores, admin: Admin) -> None:
    store = stores()
    waiter = store.change_waiter()
    try:
        assert waiter._conn is not None, "the waiter is listening"
        terminate(admin, waiter._conn.info.backend_pid)
        assert waiter.wait(5) is True  # may have missed a NOTIFY: the caller should look
        assert waiter.wait(0.1) is False
        store.enqueue_jobs([job("a")], 3)
        assert waiter.wait(5) is True
    finally:
        waiter.close()


def test_unreachable_server_is_store_unavailable() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(StoreUnavailable) as caught:
        open_store(f"postgresql://postgres@127.0.0.1:{port}/postgres?connect_timeout=3")
    message = str(caught.value)
    assert "\n" not in message and "cannot connect" in message


def test_missing_database_and_bad_url_are_clear_errors(pg_url: str) -> None:
    missing = pg_url.rsplit("/", 1)[0] + "/queuectl_no_such_database"
    with pytest.raises(StoreError, match="does not exist") as caught:
        open_store(missing)
    assert not isinstance(caught.value, StoreUnavailable)  # retrying will not help
    with pytest.raises(StoreError, match="invalid PostgreSQL URL"):
        open_store(pg_url + "?no_such_option=1")
    with pytest.raises(StoreError) as caught:
        open_store("postgresql://someone:s3cret@127.0.0.1:notaport/db")
    assert "s3cret" not in str(caught.value)


def test_missing_driver_says_how_to_install_it() -> None:
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from queuectl.errors import StoreError\n"
        "from queuectl.store import open_store\n"
        "try:\n"
        "    open_store('postgresql://nobody@127.0.0.1:1/none')\n"
        "except StoreError as err:\n"
        "    print(err)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.stdout.strip() == (
        "PostgreSQL support is not installed: pip install 'queuectl[postgres]'"
    ), out.stderr


# -- clock, durability, claims, migrations -----------------------------------------------


def test_times_come_from_the_server_clock(
    stores: Stores, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = stores()
    with monkeypatch.context() as patch:  # a host clock stuck in 1970 must not matter
        patch.setattr(time, "time", lambda: 0.0)
        now = store.now()
        store.enqueue_jobs([job("a", delay=60)], 3)
        created = store.get_job("a")
    row = admin.execute("SELECT extract(epoch FROM now())::float8").fetchone()
    assert row is not None
    assert abs(now - float(row[0])) < 5
    assert created is not None
    assert now <= created.created_at < now + 5
    assert created.run_at == pytest.approx(created.created_at + 60, abs=0.001)


def test_workers_commit_without_waiting_for_the_disk(stores: Stores) -> None:
    def setting(store: PostgresStore) -> str:
        row = connection(store).execute("SHOW synchronous_commit").fetchone()
        assert row is not None
        return str(row["synchronous_commit"])

    assert setting(stores(durable=False)) == "off"
    assert setting(stores()) == "on"


def test_concurrent_claimers_take_every_job_exactly_once(stores: Stores) -> None:
    ids = [f"job-{n:03}" for n in range(200)]
    stores().enqueue_jobs([job(i, priority=n % 3) for n, i in enumerate(ids)], 3)
    claimers = [stores(durable=False) for _ in range(4)]
    start = threading.Barrier(len(claimers))

    def claim_all(worker: int) -> list[str]:
        taken: list[str] = []
        start.wait(timeout=30)
        while batch := claimers[worker].claim_jobs(f"w{worker}", None, 3, 60):
            taken += [j.id for j in batch]
        return taken

    with ThreadPoolExecutor(len(claimers)) as pool:
        results = list(pool.map(claim_all, range(len(claimers))))
    claimed = [i for taken in results for i in taken]
    assert sorted(claimed) == ids  # all of them, none twice
    check = stores()
    assert check.count_jobs().by_state[JobState.PROCESSING] == 200
    assert all(len(check.list_attempts(i)) == 1 for i in ids[:20])


def test_many_stores_opening_a_fresh_database_at_once_migrate_it_once(
    pg_url: str, admin: Admin
) -> None:
    def open_and_close(_: int) -> int:
        store = open_store(pg_url)
        try:
            return store.schema_version()
        finally:
            store.close()

    with ThreadPoolExecutor(6) as pool:
        versions = list(pool.map(open_and_close, range(6)))
    latest = latest_migration("postgres")
    assert versions == [latest] * 6
    name = pg_url.rsplit("/", 1)[1]
    with psycopg.connect(pg_helpers.postgres_admin_url(), dbname=name) as conn:
        rows = conn.execute("SELECT version FROM schema_migrations").fetchall()
    assert sorted(rows) == [(v,) for v in range(1, latest + 1)]


def test_shared_database_is_fine_but_a_foreign_jobs_table_is_refused(pg_url: str) -> None:
    name = pg_url.rsplit("/", 1)[1]
    with psycopg.connect(pg_helpers.postgres_admin_url(), dbname=name, autocommit=True) as conn:
        conn.execute("CREATE TABLE invoices (id int)")
        store = open_store(pg_url)  # other applications' tables are fine in PostgreSQL
        assert store.schema_version() == latest_migration("postgres")
        store.close()
        conn.execute("DROP TABLE jobs, attempts, config, workers, schema_migrations")
        conn.execute("CREATE TABLE jobs (id int)")
    with pytest.raises(StoreError, match="not a queuectl database"):
        open_store(pg_url)


def test_another_programs_schema_migrations_is_refused_and_left_alone(pg_url: str) -> None:
    """Rails and others keep a `schema_migrations` of text versions: not ours, untouched."""
    name = pg_url.rsplit("/", 1)[1]
    with psycopg.connect(pg_helpers.postgres_admin_url(), dbname=name, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS jobs, attempts, config, workers, schema_migrations")
        conn.execute("CREATE TABLE schema_migrations (version text PRIMARY KEY)")
        conn.execute("INSERT INTO schema_migrations VALUES ('20230101120000')")
        with pytest.raises(StoreError, match="not a queuectl database"):
            open_store(pg_url)
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    assert tables == [("schema_migrations",)]


def test_migration_2_numbers_attempts_on_from_the_history(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on SQLite: a job requeued under schema 1 (records 1, 2, 1) runs next as
    attempt 3; a running job keeps the number of its open record."""
    import shutil

    from queuectl.store import queries

    v1 = tmp_path / "store-v1"
    shutil.copytree(queries._HERE, v1, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    for script in (v1 / "migrations" / "postgres").glob("*.sql"):
        if not script.name.startswith("0001_"):
            script.unlink()
    monkeypatch.setattr(queries, "_HERE", str(v1))
    open_store(pg_url).close()  # schema version 1
    name = pg_url.rsplit("/", 1)[1]
    with psycopg.connect(pg_helpers.postgres_admin_url(), dbname=name, autocommit=True) as conn:
        for job_id, state, attempts in (("requeued", "completed", 1), ("running", "processing", 2)):
            conn.execute(
                "INSERT INTO jobs (id, command, state, attempts, max_retries, run_at,"
                " created_at, updated_at, worker_id, lease_expires_at)"
                " VALUES (%s, 'true', %s, %s, 3, now(), now(), now(), 'w-old',"
                " now() + interval '1 hour')",
                (job_id, state, attempts),
            )
        for job_id, number, finished in (
            ("requeued", 1, True),
            ("requeued", 2, True),
            ("requeued", 1, True),
            ("running", 1, True),
            ("running", 2, False),
        ):
            conn.execute(
                "INSERT INTO attempts (job_id, attempt, worker_id, started_at, finished_at)"
                " VALUES (%s, %s, 'w-old', now(), CASE WHEN %s THEN now() END)",
                (job_id, number, finished),
            )
    monkeypatch.undo()

    store = open_store(pg_url)  # migrates to the latest version
    try:
        requeued, running = store.get_job("requeued"), store.get_job("running")
        assert requeued is not None and requeued.last_attempt == 2
        assert running is not None and running.last_attempt == 2
        assert store.complete_job("running", "w-old", 2, RunResult(0, None))
        assert all(a.finished_at is not None for a in store.list_attempts("running"))
        store.update_job("requeued", JobChanges(requeue=True))
        [again] = store.claim_jobs("w-new", None, 1, 60)
        assert (again.id, again.attempts, again.last_attempt) == ("requeued", 1, 3)
        assert [a.attempt for a in store.list_attempts("requeued")] == [1, 2, 1, 3]
    finally:
        store.close()


# -- decisions applied under a guard ------------------------------------------------------

# Completes job "j" at the end of any UPDATE statement on jobs, even one that changed no
# row, once the flag row exists: "the job finished right after that statement".
FINISH_AFTER_ANY_UPDATE = """
CREATE TABLE finish_flag (on_ boolean);
CREATE FUNCTION finish_j() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() = 1 AND EXISTS (SELECT 1 FROM finish_flag) THEN
        UPDATE jobs SET state = 'completed', worker_id = NULL WHERE id = 'j';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER finish_j AFTER UPDATE ON jobs FOR EACH STATEMENT EXECUTE FUNCTION finish_j();
"""


def test_update_of_a_job_claimed_and_finished_meanwhile_is_refused_cleanly(
    stores: Stores, pg_url: str
) -> None:
    """A claim commits while update_job waits for the row; the job then ends before
    update_job could look again. It must say the job is running (or apply to the ended
    job), never fail with an internal error."""
    store = stores()
    store.enqueue_jobs([job("j")], 3)
    with psycopg.connect(pg_url, autocommit=True) as setup:
        setup.execute(FINISH_AFTER_ANY_UPDATE)
    claimer = psycopg.connect(pg_url)  # one open transaction: its claim holds the row
    try:
        claimer.execute(
            "UPDATE jobs SET state = 'processing', worker_id = 'w1', attempts = 1,"
            " last_attempt = 1 WHERE id = 'j'"
        )
        claimer.execute("INSERT INTO finish_flag VALUES (true)")
        with ThreadPoolExecutor(1) as pool:
            editing = pool.submit(store.update_job, "j", JobChanges(priority=5))
            wait_until_blocked(claimer)
            claimer.commit()
            with pytest.raises(InvalidStateChange, match="running"):
                editing.result(timeout=30)
    finally:
        claimer.close()


def wait_until_blocked(holder: psycopg.Connection[Any]) -> None:
    """Until another session waits for a lock `holder` holds."""
    deadline = time.monotonic() + 30
    pid = holder.info.backend_pid
    with psycopg.connect(pg_helpers.postgres_admin_url(), autocommit=True) as admin:
        while time.monotonic() < deadline:
            row = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY (pg_blocking_pids(pid))",
                (pid,),
            ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.01)
    pytest.fail("the update never waited for the claim's lock")


def test_a_cancel_of_several_jobs_is_all_or_none_when_one_ends_meanwhile(stores: Stores) -> None:
    """Job b ends while the cancel of a and b waits for it: neither is cancelled."""
    from queuectl import service

    store = stores()
    store.enqueue_jobs([job("a"), job("b")], 3)
    finisher = psycopg.connect(store.url)  # holds b's row until it commits
    try:
        finisher.execute("UPDATE jobs SET state = 'completed' WHERE id = 'b'")
        with ThreadPoolExecutor(1) as pool:
            cancelling = pool.submit(service.cancel, store, ["a", "b"])
            wait_until_blocked(finisher)
            finisher.commit()
            with pytest.raises(InvalidStateChange, match="'b' is already completed"):
                cancelling.result(timeout=30)
    finally:
        finisher.close()
    assert {j.id: j.state for j in store.list_jobs()} == {
        "a": JobState.PENDING,
        "b": JobState.COMPLETED,
    }


# -- query plans ----------------------------------------------------------------------


def test_listing_a_state_walks_its_index_whatever_analyze_saw(pg_url: str) -> None:
    """A large table of completed jobs with none dead: ANALYZE sees one or two states. The
    listing queries take their states from an array (the planner cannot see them), and
    must still read jobs_state, not walk every job by seq (migration 0007)."""
    open_store(pg_url).close()  # migrated
    query = load_queries("postgres.sql")["query_jobs_in_state_newest"]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        columns = "id, command, state, max_retries, run_at, created_at, updated_at"
        with conn.cursor().copy(f"COPY jobs ({columns}) FROM STDIN") as copy:
            at = "2026-01-01 00:00:00+00"
            for i in range(200_000):
                state = "completed" if i % 20_000 else "pending"
                copy.write_row((f"c{i}", "true", state, 3, at, at, at))
        conn.execute("VACUUM ANALYZE jobs")
        for states in (["dead"], ["failed", "cancelled"]):
            params = {"states": states, "after": None, "queue": None, "search": None}
            rows = conn.execute(f"EXPLAIN {query}", {**params, "limit": 51}).fetchall()
            plan = "\n".join(row[0] for row in rows)
            assert "jobs_state" in plan and "jobs_pkey" not in plan, plan

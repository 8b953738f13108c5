"""A store opened ahead (queuectl/store/ahead.py), as the fork server's spare opens one
for its command: an open of the same store with the same options and settings takes
it, anything else closes it and opens afresh. Here in the test's own process, which
plays the spare (`prepare`) and then the command (`open_store`)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from queuectl.store import ahead, backend_class, open_store
from queuectl.store.base import Store
from tests.conftest import BACKENDS, make_job

REMOTE = ("postgres", "redis")
# Backends whose stores are opened ahead (the others' tests run the first test only).
REMOTE_URLS = [pytest.param(name, id=name, marks=BACKENDS[name][1]) for name in REMOTE]
OPTIONS = (True, True, True)  # open_store's defaults: durable, migrate, check_schema


@pytest.fixture(autouse=True)
def spare(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """What `prepare` changes (the environment, the directory, the module's state) is
    put back after each test."""
    saved, cwd = dict(os.environ), os.getcwd()
    monkeypatch.setattr(ahead, "opened", None)
    monkeypatch.setattr(ahead, "taken", False)
    monkeypatch.setattr(ahead, "hinting", True)  # as in a fork server's child
    yield
    ahead.discard()
    os.environ.clear()
    os.environ.update(saved)
    os.chdir(cwd)


def _until(check: Callable[[], bool], what: str) -> None:
    give_up = time.monotonic() + 30
    while not check():
        assert time.monotonic() < give_up, f"still waiting for {what}"
        time.sleep(0.01)


def _prepared(url: str) -> Store:
    cwd = os.getcwd()
    ahead.prepare((url, OPTIONS, ahead.settings(), cwd), backend_class)
    assert os.getcwd() == "/"  # the spare keeps no directory busy while it waits
    os.chdir(cwd)  # as the command's child does: it takes its caller's directory
    held = ahead._ahead
    assert held is not None
    return held.store


def test_the_same_open_takes_the_store_opened_ahead(store_url: str, backend: str) -> None:
    if backend not in REMOTE:
        ahead.prepare((store_url, OPTIONS, ahead.settings(), os.getcwd()), backend_class)
        assert ahead.expire_in() is None  # opens in no time: nothing is opened ahead
        return
    prepared = _prepared(store_url)
    store = open_store(store_url)
    try:
        assert store is prepared and ahead.taken
        assert ahead.expire_in() is None  # taken once
        store.enqueue_jobs([make_job("a1")], 3)
        assert store.get_job("a1") is not None
        assert ahead.opened == (store_url, OPTIONS, ahead.settings(), os.getcwd())
    finally:
        store.close()


@pytest.mark.parametrize("store_url", REMOTE_URLS, indirect=True)
@pytest.mark.parametrize("change", ["options", "settings", "directory", "age"])
def test_an_open_that_differs_opens_its_own(
    store_url: str, change: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if change == "age":
        monkeypatch.setenv(ahead.AGE_VAR, "0.05")
    prepared = _prepared(store_url)
    durable = True
    if change == "options":
        durable = False  # a worker's open
    elif change == "settings":
        monkeypatch.setenv("PGAPPNAME", "another")
    elif change == "directory":
        monkeypatch.chdir(tmp_path)  # a relative sslrootcert, say, means another file
    else:
        _until(lambda: ahead.expire_in() == 0, "its time to pass")
    store = open_store(store_url, durable=durable)
    try:
        assert store is not prepared and not ahead.taken
        assert ahead.expire_in() is None  # closed, not kept
        store.enqueue_jobs([make_job("b1")], 3)
        assert store.get_job("b1") is not None
    finally:
        store.close()


@pytest.mark.parametrize("store_url", REMOTE_URLS, indirect=True)
def test_a_wait_of_zero_opens_nothing_ahead(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ahead.AGE_VAR, "0")
    ahead.prepare((store_url, OPTIONS, ahead.settings(), os.getcwd()), backend_class)
    assert ahead.expire_in() is None


@pytest.mark.postgres
def test_a_connection_the_server_ended_is_not_taken(tmp_path: Path) -> None:
    """pg_terminate_backend (or a restart) ends the spare's session: the command must
    not get a connection whose first write would fail."""
    import psycopg

    from tests.conftest import postgres_database

    with postgres_database(tmp_path) as url:
        open_store(url).close()  # migrated
        prepared = _prepared(url)
        with psycopg.connect(url, autocommit=True) as admin:
            ended = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
        assert ended == [(True,)]
        usable = getattr(prepared, "connection_usable")  # noqa: B009 (a Reopenable's)
        _until(lambda: not usable(), "the server's goodbye to reach the socket")
        store = open_store(url)
        try:
            assert store is not prepared and not ahead.taken
            store.enqueue_jobs([make_job("c1")], 3)  # a write: never retried on a new connection
            assert store.get_job("c1") is not None
        finally:
            store.close()


@pytest.mark.postgres
def test_a_postgres_warm_up_writes_nothing_and_waits_for_no_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spare's warm-up runs the one-job enqueue with no job: no row, no count, no
    NOTIFY; and with the jobs table locked (a migration under way) it gives up at once
    instead of holding its command back, and the store is still taken."""
    import threading

    import psycopg

    from queuectl.store.postgres_base import CHANNEL
    from tests.conftest import postgres_database

    with postgres_database(tmp_path) as url, psycopg.connect(url, autocommit=True) as listener:
        open_store(url).close()  # migrated
        listener.execute(f"LISTEN {CHANNEL}")
        _prepared(url)
        store = open_store(url)
        try:
            assert ahead.taken
            store.enqueue_jobs([make_job("w1")], 3)  # one NOTIFY, after any of the warm-up
            assert len(list(listener.notifies(timeout=20, stop_after=1))) == 1
            listener.execute("SELECT 1")  # what came meanwhile is read now
            assert list(listener.notifies(timeout=0)) == []
            assert [job.id for job in store.list_jobs()] == ["w1"]
            assert sum(store.count_jobs().by_state.values()) == 1  # job_counts: just it
        finally:
            store.close()
        monkeypatch.setattr(ahead, "taken", False)
        with psycopg.connect(url) as locker:
            locker.execute("LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE")  # until rollback
            try:
                spare = threading.Thread(target=_prepared, args=(url,), daemon=True)
                spare.start()
                spare.join(timeout=20)
                assert not spare.is_alive(), "the warm-up waited for the lock"
            finally:
                locker.rollback()
        store = open_store(url)
        try:
            assert ahead.taken
            store.enqueue_jobs([make_job("w2")], 3)
            assert store.get_job("w2") is not None
        finally:
            store.close()


@pytest.mark.postgres
def test_a_postgres_warm_up_tries_no_insert_a_role_may_not_make(tmp_path: Path) -> None:
    """A role that may only read (a dashboard's, a monitor's) gets no enqueue in its
    warm-up: it would fail, and the server would log an error for each spare."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    from tests.conftest import postgres_database
    from tests.pg_helpers import _as_url

    with postgres_database(tmp_path) as url, psycopg.connect(url, autocommit=True) as admin:
        open_store(url).close()  # migrated
        admin.execute(
            "DO $$ BEGIN CREATE ROLE queuectl_test_reader LOGIN;"
            " EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
        admin.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO queuectl_test_reader")
        reader = _as_url({**conninfo_to_dict(url), "user": "queuectl_test_reader"})
        prepared = _prepared(reader)
        backend = getattr(prepared, "_conn").info.backend_pid  # noqa: B009 (the spare's)
        last = admin.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", (backend,))
        assert last.fetchone() == ("COMMIT",)  # a refused insert would have rolled back
        assert prepared.list_jobs() == []


@pytest.mark.redis
def test_a_redis_connection_the_server_ended_is_taken_and_reconnects(tmp_path: Path) -> None:
    """redis-py's pool looks at an idle connection before each command: one the server
    closed is replaced before the command is sent."""
    import redis

    from tests.conftest import redis_database
    from tests.redis_helpers import redis_test_url

    with redis_database(tmp_path) as url:
        open_store(url).close()
        prepared = _prepared(url)
        its_id = getattr(prepared, "_client").client_id()  # noqa: B009 (the pooled one)
        admin = redis.Redis.from_url(redis_test_url())
        try:
            assert admin.client_kill_filter(_id=its_id) == 1
        finally:
            admin.close()
        store = open_store(url)
        try:
            assert store is prepared and ahead.taken
            store.enqueue_jobs([make_job("d1")], 3)
            assert store.get_job("d1") is not None
        finally:
            store.close()


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("3", 3.0), ("0", 0.0), ("-1", 0.0), ("nan", 0.0), ("inf", ahead.LONGEST_S),
     ("1e300", ahead.LONGEST_S), ("soon", ahead.MAX_AGE_S), (None, ahead.MAX_AGE_S)],
)  # fmt: skip
def test_how_long_a_store_may_wait(
    monkeypatch: pytest.MonkeyPatch, value: str | None, seconds: float
) -> None:
    """A spare's socket timeout comes from it: never infinite, never zero (which would
    make the socket non-blocking), never past LONGEST_S."""
    if value is None:
        monkeypatch.delenv(ahead.AGE_VAR, raising=False)
    else:
        monkeypatch.setenv(ahead.AGE_VAR, value)
    assert ahead.max_age() == seconds


@pytest.mark.parametrize("store_url", REMOTE_URLS, indirect=True)
def test_only_a_fork_server_child_leaves_a_hint(
    store_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(ahead, "hinting", False)  # a worker, a server, a command alone
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()  # its directory removed under it: opening must not care
    open_store(store_url).close()
    assert ahead.opened is None
    monkeypatch.setattr(ahead, "hinting", True)
    open_store(store_url).close()  # a child in a removed directory: no hint, no error
    assert ahead.opened is None

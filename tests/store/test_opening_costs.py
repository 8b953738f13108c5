"""What opening a PostgreSQL or Redis store costs a short command, counted rather than
timed: the statements of the schema check, the Lua scripts read and hashed, and the
encryption libpq is told not to offer on a connection that stays on this machine."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from queuectl.store import open_store
from tests.conftest import make_job, postgres_database, redis_database


@pytest.fixture
def pg_url(tmp_path: Any) -> Iterator[str]:
    with postgres_database(tmp_path) as url:  # migrated already
        yield url


@pytest.fixture
def redis_url(tmp_path: Any) -> Iterator[str]:
    with redis_database(tmp_path) as url:
        yield url


@pytest.mark.postgres
def test_opening_a_current_postgresql_database_checks_its_schema_in_one_statement(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    statements: list[str] = []
    real = psycopg.Connection.execute

    def execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        statements.append(str(query))
        return real(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "execute", execute)
    store = open_store(pg_url)
    try:
        assert len(statements) == 1, statements
        assert "schema_migrations" in statements[0]
    finally:
        store.close()


@pytest.mark.postgres
def test_a_loopback_connection_offers_no_encryption_unless_asked(pg_url: str) -> None:
    assert "127.0.0.1" in pg_url or "localhost" in pg_url, "a loopback server is assumed here"
    for url, wanted in ((pg_url, "disable"), (f"{pg_url}?sslmode=prefer", "prefer")):
        store: Any = open_store(url)
        try:
            options = {o.keyword: o.val for o in store._conn.pgconn.info}
            assert options[b"sslmode"] == wanted.encode(), options
            assert options[b"gssencmode"] == b"disable", options
        finally:
            store.close()


def test_only_a_loopback_connection_without_a_setting_of_its_own_is_made_plain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("psycopg")
    from queuectl.store.postgres_connect import loopback_plain

    monkeypatch.delenv("PGSSLMODE", raising=False)
    monkeypatch.delenv("PGGSSENCMODE", raising=False)
    monkeypatch.delenv("PGHOST", raising=False)
    both = {"sslmode": "disable", "gssencmode": "disable"}
    assert loopback_plain({"host": "127.0.0.1"}) == both
    assert loopback_plain({"host": "localhost,::1"}) == both
    assert loopback_plain({"host": "db.example.com"}) == {}
    assert loopback_plain({"host": "127.0.0.1,db.example.com"}) == {}
    assert loopback_plain({}) == {}  # the local socket: libpq never encrypts it
    assert loopback_plain({"host": "127.0.0.1", "sslmode": "require"}) == {"gssencmode": "disable"}
    monkeypatch.setenv("PGSSLMODE", "verify-full")
    assert loopback_plain({"host": "127.0.0.1"}) == {"gssencmode": "disable"}


@pytest.mark.redis
def test_a_redis_store_reads_a_script_only_when_it_first_runs_one(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from queuectl.store import redis_client

    read: list[str] = []
    real = redis_client.script_text

    def script_text(name: str) -> str:
        read.append(name)
        return real(name)

    monkeypatch.setattr(redis_client, "script_text", script_text)
    store = open_store(redis_url)
    try:
        assert read == []
        store.enqueue_jobs([make_job("a"), make_job("b")], 3)
        store.enqueue_jobs([make_job("c")], 3)
        assert read == ["enqueue"]
        assert [job.id for job in store.list_jobs()] == ["c", "b", "a"]
    finally:
        store.close()

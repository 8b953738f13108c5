"""What a CLI test's database holds, read straight from the backend (never through
queuectl): the snapshot that proves a failed command changed nothing, and the job ids in
enqueue order. Also the few changes a test makes behind queuectl's back (a job or a
worker's heartbeat made older), written the way each backend stores them.

`url` is what the test passes as --db: a SQLite path, a postgresql:// or redis:// URL.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

    # A connection of either SQL backend's own driver (both take `execute(query, params)`).
    Connection = sqlite3.Connection | psycopg.Connection[tuple[Any, ...]]

# The tables a snapshot compares (the same on SQLite and PostgreSQL).
TABLES = ("jobs", "job_after", "attempts", "config", "schema_migrations")

# Table (SQL) or key (Redis) -> its rows; a Redis key has one row: its value.
Contents = dict[str, list[tuple[Any, ...]]]


def kind_of(url: str) -> str:
    """The backend of `url`: "sqlite", "postgres" or "redis"."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgres"
    if url.startswith(("redis://", "rediss://")):
        return "redis"
    return "sqlite"


def contents(url: str) -> Contents:
    """Every row of the queuectl tables (SQL), or every key of the prefix with its value
    (Redis), in a stable order: equal snapshots mean nothing was changed."""
    kind = kind_of(url)
    if kind == "redis":
        with _redis(url) as (client, prefix):
            keys = sorted(client.scan_iter(match=prefix + "*", count=1000))
            return {key.decode(): [(_redis_value(client, key),)] for key in keys}
    with _sql(url, read_only=True) as conn:
        return {table: _rows(conn, f"SELECT * FROM {table} ORDER BY 1") for table in TABLES}


def job_ids(url: str) -> list[str]:
    """The ids of the stored jobs, in enqueue order ([] when the SQLite file is not made)."""
    if kind_of(url) == "redis":
        with _redis(url) as (client, prefix):
            return [job_id.decode() for job_id in client.zrange(prefix + "all", 0, -1)]
    if kind_of(url) == "sqlite" and not Path(url).exists():
        return []
    with _sql(url, read_only=True) as conn:
        return [row[0] for row in _rows(conn, "SELECT id FROM jobs ORDER BY seq")]


def attempt_owners(url: str) -> set[str]:
    """The ids of the jobs that have attempt records."""
    if kind_of(url) == "redis":
        with _redis(url) as (client, prefix):
            keys = client.scan_iter(match=prefix + "att:*", count=1000)
            return {key.decode()[len(prefix) + 4 :].rsplit(":", 1)[0] for key in keys}
    with _sql(url, read_only=True) as conn:
        return {row[0] for row in _rows(conn, "SELECT job_id FROM attempts")}


def backdate_job(url: str, job_id: str, seconds: float) -> None:
    """Make the job look last updated `seconds` ago."""
    _set_time(url, "jobs", "updated_at", job_id, time.time() - seconds)


def backdate_heartbeat(url: str, worker_id: str, seconds: float) -> None:
    """Make the worker's last heartbeat `seconds` ago."""
    _set_time(url, "workers", "heartbeat_at", worker_id, time.time() - seconds)


def forget_own_max_retries(url: str, job_id: str) -> None:
    """Make the job look enqueued without a max_retries of its own."""
    if kind_of(url) == "redis":
        with _redis(url) as (client, prefix):
            client.hdel(f"{prefix}job:{job_id}", "own_max_retries")
        return
    with _sql(url) as conn:
        _write(conn, "UPDATE jobs SET own_max_retries = NULL WHERE id = %s", (job_id,))


def _set_time(url: str, table: str, column: str, row_id: str, epoch: float) -> None:
    kind = kind_of(url)
    if kind == "redis":
        key = {"jobs": "job:", "workers": "worker:"}[table] + row_id
        with _redis(url) as (client, prefix):
            assert client.exists(prefix + key), f"no {key} in {url}"
            client.hset(prefix + key, column, repr(epoch))
            state = client.hget(prefix + key, "state")
            if column == "updated_at" and state in (b"completed", b"dead", b"cancelled"):
                # finished jobs are also kept by age, for retention (schema version 2)
                client.zadd(f"{prefix}ended:{state.decode()}", {row_id: epoch})
        return
    value = "to_timestamp(%s)" if kind == "postgres" else "%s"
    with _sql(url) as conn:
        _write(conn, f"UPDATE {table} SET {column} = {value} WHERE id = %s", (epoch, row_id))


@contextmanager
def _sql(url: str, read_only: bool = False) -> Iterator[Connection]:
    """A connection of the database's own driver (sqlite3 or psycopg), closed afterwards;
    read-only on SQLite, which then neither creates the file nor touches its journal."""
    if kind_of(url) == "postgres":
        import psycopg

        with psycopg.connect(url, autocommit=True) as pg_conn:
            yield pg_conn
        return
    conn = sqlite3.connect(f"file:{url}?mode=ro", uri=True) if read_only else sqlite3.connect(url)
    try:
        yield conn
    finally:
        conn.close()


def _rows(conn: Connection, query: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in conn.execute(query).fetchall()]


def _write(conn: Connection, query: str, params: tuple[Any, ...]) -> None:
    """One statement with %s placeholders, committed (sqlite3 takes ?)."""
    if isinstance(conn, sqlite3.Connection):
        with conn:
            conn.execute(query.replace("%s", "?"), params)
        return
    conn.execute(query, params)


@contextmanager
def _redis(url: str) -> Iterator[tuple[Any, str]]:
    """A client on the test's server and the test's key prefix. The client is Any: redis-py
    types each reply of its sync client as "or an Awaitable", which a reader would cast."""
    import redis

    from queuectl.store.redis_client import split_url

    base, prefix = split_url(url)
    with redis.Redis.from_url(base) as client:
        yield client, prefix


def _redis_value(client: Any, key: bytes) -> object:
    kind = client.type(key).decode()
    if kind == "string":
        return client.get(key)
    if kind == "hash":
        return sorted(client.hgetall(key).items())
    if kind == "zset":
        return client.zrange(key, 0, -1, withscores=True)
    if kind == "set":
        return sorted(client.smembers(key))
    if kind == "list":
        return client.lrange(key, 0, -1)
    raise AssertionError(f"{key!r}: a Redis {kind} the snapshot does not read")


# What `ping` names each backend, and the schema version this queuectl brings to it.
PRODUCT = {"sqlite": "SQLite", "postgres": "PostgreSQL", "redis": "Redis"}


def latest_schema(url: str) -> int:
    """The schema version `db migrate` brings the database of `url` to."""
    kind = kind_of(url)
    if kind == "redis":
        from queuectl.store.redis_base import SCHEMA_VERSION

        return SCHEMA_VERSION
    from queuectl.store.queries import latest_migration

    return latest_migration(kind)


def schema_version(url: str) -> int:
    """The schema version stored in the database (0: none)."""
    if kind_of(url) == "redis":
        with _redis(url) as (client, prefix):
            return int(client.get(prefix + "schema") or 0)
    with _sql(url, read_only=True) as conn:
        [(version,)] = _rows(conn, "SELECT max(version) FROM schema_migrations")
        return int(version or 0)

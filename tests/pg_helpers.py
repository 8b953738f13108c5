"""Throw-away PostgreSQL databases for tests.

The server is the one at QUEUECTL_TEST_POSTGRES (default: postgres on 127.0.0.1:5432).
Each test gets a database of its own, `queuectl_test_<random>`, dropped afterwards. When
the server cannot be reached the test is skipped, except under CI=true, where it fails:
CI must not pass by running no PostgreSQL test at all.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from urllib.parse import quote, urlencode

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PREFIX = "queuectl_test_"


def postgres_admin_url() -> str:
    """The URL of a database on the test server where we may CREATE DATABASE."""
    return os.environ.get("QUEUECTL_TEST_POSTGRES", "").strip() or DEFAULT_URL


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(postgres_admin_url(), autocommit=True, connect_timeout=5)


@cache
def _unreachable_reason() -> str | None:
    """Why the test server cannot be used, or None when it can (asked once per run)."""
    try:
        with _admin() as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
        return f"PostgreSQL test server {postgres_admin_url()} not reachable: {first_line}"
    return None


def require_postgres() -> None:
    """Skip the calling test when the server is away; fail it instead when CI=true."""
    reason = _unreachable_reason()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: PostgreSQL tests must run; set QUEUECTL_TEST_POSTGRES)")
    pytest.skip(f"{reason} (set QUEUECTL_TEST_POSTGRES to run PostgreSQL tests)")


def create_test_database() -> str:
    """Create an empty database and return its URL (same server and user as the admin URL)."""
    require_postgres()
    name = PREFIX + secrets.token_hex(6)
    with _admin() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = conninfo_to_dict(postgres_admin_url())
    params["dbname"] = name
    return _as_url(params)


def drop_test_database(url: str) -> None:
    """Drop a database made by create_test_database, ending its sessions first."""
    name = conninfo_to_dict(url)["dbname"]
    if not isinstance(name, str) or not name.startswith(PREFIX):
        raise ValueError(f"refusing to drop {name!r}: not a test database")
    with _admin() as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        # FORCE (PostgreSQL 13+) also ends a session that reconnected in between.
        force = sql.SQL(" WITH (FORCE)" if conn.info.server_version >= 130000 else "")
        drop = sql.SQL("DROP DATABASE IF EXISTS {}{}").format(sql.Identifier(name), force)
        conn.execute(drop)


@contextmanager
def fresh_database() -> Iterator[str]:
    """The URL of a new, empty database, dropped afterwards."""
    url = create_test_database()
    try:
        yield url
    finally:
        drop_test_database(url)


def _as_url(params: Mapping[str, object]) -> str:
    """libpq parameters back as a postgresql:// URL (the store is opened by URL scheme)."""
    params = dict(params)
    user = quote(str(params.pop("user", "")), safe="")
    password = params.pop("password", None)
    host = str(params.pop("host", ""))
    port = params.pop("port", None)
    dbname = quote(str(params.pop("dbname")), safe="")
    auth = user + (":" + quote(str(password), safe="") if password is not None else "")
    if host.startswith("/"):  # a Unix socket directory goes in the query
        params["host"] = host
        host = ""
    netloc = (auth + "@" if auth else "") + host + (f":{port}" if port else "")
    query = urlencode({key: str(value) for key, value in params.items()})
    return f"postgresql://{netloc}/{dbname}" + (f"?{query}" if query else "")

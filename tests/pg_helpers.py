"""Throw-away PostgreSQL databases for tests.

The server is the one at QUEUECTL_TEST_POSTGRES (default: postgres on 127.0.0.1:5432).
Each test gets a database of its own, `queuectl_test_<random>`, dropped afterwards. When
the server cannot be reached the test is skipped, except under CI=true, where it fails:
CI must not pass by running no PostgreSQL test at all.

`fresh_database` clones a template migrated once (CREATE DATABASE ... TEMPLATE), which is
several times quicker than running every migration per test. The template's name holds a
digest of the migrations, so a changed migration gets a template of its own and a stale
one is never cloned; one pytest session builds it (under an advisory lock, then renamed
into place, so a half-built template is never seen) while the others wait. Templates no
session has used for a day are dropped. `create_test_database()` still gives an empty
database, for the tests of migrating one.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from urllib.parse import quote, urlencode

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from queuectl.store import open_store
from queuectl.store.queries import load_migrations

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PREFIX = "queuectl_test_"
TEMPLATE_PREFIX = "queuectl_template_"  # + the digest of the migrations it holds
BUILDING_PREFIX = "queuectl_building_"  # a template being migrated, renamed when done
TEMPLATE_LOCK = int.from_bytes(b"qtemplat", "big")  # pg_advisory_lock key: who builds
UNUSED_TEMPLATE_S = 24 * 3600  # a template no session has used for this long is dropped


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


def create_test_database(template: str | None = None) -> str:
    """Create a database, empty or a copy of `template`, and return its URL (same server
    and user as the admin URL)."""
    require_postgres()
    name = PREFIX + secrets.token_hex(6)
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with _admin() as conn:
        conn.execute(create)
    return _url_of(name)


def _url_of(name: str) -> str:
    params = conninfo_to_dict(postgres_admin_url())
    params["dbname"] = name
    return _as_url(params)


def drop_test_database(url: str) -> None:
    """Drop a database made by create_test_database, ending its sessions first."""
    name = conninfo_to_dict(url)["dbname"]
    if not isinstance(name, str) or not name.startswith(PREFIX):
        raise ValueError(f"refusing to drop {name!r}: not a test database")
    with _admin() as conn:
        _drop(conn, name)


def _drop(conn: psycopg.Connection[tuple[object, ...]], name: str) -> None:
    """Drop database `name`, ending its sessions first."""
    conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = %s AND pid <> pg_backend_pid()",
        (name,),
    )
    # FORCE (PostgreSQL 13+) also ends a session that reconnected in between.
    force = sql.SQL(" WITH (FORCE)" if conn.info.server_version >= 130000 else "")
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}{}").format(sql.Identifier(name), force))


@contextmanager
def fresh_database() -> Iterator[str]:
    """The URL of a new database with queuectl's latest schema and no data (a clone of
    the migrated template), dropped afterwards."""
    try:
        url = create_test_database(migrated_template())
    except psycopg.errors.InvalidCatalogName:  # another session dropped it as unused
        migrated_template.cache_clear()
        url = create_test_database(migrated_template())
    try:
        yield url
    finally:
        drop_test_database(url)


def migrations_digest() -> str:
    """A digest of the PostgreSQL migrations: it names the template that holds them."""
    digest = hashlib.sha256()
    for version, script in load_migrations("postgres"):
        digest.update(f"{version}\0{script}\0".encode())
    return digest.hexdigest()[:16]


@cache
def migrated_template() -> str:
    """The name of a database migrated to the latest schema, built if missing (once per
    server and set of migrations; pytest sessions starting at once take turns)."""
    name = TEMPLATE_PREFIX + migrations_digest()
    with _admin() as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (TEMPLATE_LOCK,))  # freed on close
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if found.fetchone() is None:
            _build_template(conn, name)
        note = sql.Literal(f"last used {time.time():.0f}")
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), note))
        _drop_unused_templates(conn)
    return name


def _build_template(conn: psycopg.Connection[tuple[object, ...]], name: str) -> None:
    """Migrate a database under a name of its own, then rename it to `name`: a session
    that dies half-way leaves a `building` database (dropped by the next builder, who
    holds the lock), never a half-migrated template."""
    for (abandoned,) in conn.execute(
        "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (BUILDING_PREFIX,)
    ).fetchall():
        _drop(conn, str(abandoned))
    building = BUILDING_PREFIX + secrets.token_hex(6)
    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(building)))
    try:
        open_store(_url_of(building)).close()  # opening migrates it
        # No session may connect to a template: a clone fails while one is connected.
        conn.execute(
            sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(
                sql.Identifier(building)
            )
        )
        rename = sql.SQL("ALTER DATABASE {} RENAME TO {}")
        conn.execute(rename.format(sql.Identifier(building), sql.Identifier(name)))
    except BaseException:
        _drop(conn, building)
        raise


def _drop_unused_templates(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Drop the templates (of other migrations) that no session has used for a day."""
    rows = conn.execute(
        "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database"
        " WHERE starts_with(datname, %s)",
        (TEMPLATE_PREFIX,),
    ).fetchall()
    for name, note in rows:
        last_used = str(note or "").removeprefix("last used ")
        if not last_used.isdigit() or time.time() - int(last_used) > UNUSED_TEMPLATE_S:
            _drop(conn, str(name))


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

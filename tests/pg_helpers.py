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

A database a test is done with is emptied and handed to the next test (`_reuse`), which
is some thirty times quicker than a drop and a clone: only when nothing is connected to it
any more and its schema is still the template's (a test may add a trigger, say);
otherwise it is dropped. The spares are dropped when the session ends.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import secrets
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
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
    """The URL of a database with queuectl's latest schema and no data (a clone of the
    migrated template, or one emptied after an earlier test), dropped or emptied after."""
    url = _SPARES.pop() if _SPARES else _clone()
    try:
        yield url
    finally:
        if _reuse(url):
            _SPARES.append(url)
        else:
            drop_test_database(url)


_SPARES: list[str] = []  # emptied databases, ready for the next test
KEPT_TABLES = ("schema_migrations", "metric_buckets")  # what a migration puts in
SESSIONS_GONE_S = 2.0  # how long a closed connection's server process may take to exit


def _clone() -> str:
    try:
        return create_test_database(migrated_template())
    except psycopg.errors.InvalidCatalogName:  # another session dropped it as unused
        migrated_template.cache_clear()
        return create_test_database(migrated_template())


# Everything a test could change about a database other than its rows: a database whose
# fingerprint differs from the template's is dropped, never reused.
FINGERPRINT = """
SELECT md5(string_agg(part, ',' ORDER BY part)) FROM (
    SELECT 'n:' || nspname FROM pg_namespace
    WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'
    UNION ALL
    SELECT 'c:' || attrelid::regclass || '.' || attname || ':' || atttypid::regtype || ':'
           || attnotnull || ':' || coalesce(array_to_string(attoptions, ';'), '')
    FROM pg_attribute JOIN pg_class ON pg_class.oid = attrelid
    WHERE relnamespace = 'public'::regnamespace AND attnum > 0 AND NOT attisdropped
    UNION ALL
    SELECT 't:' || tgrelid::regclass || '.' || tgname || ':' || tgenabled::text FROM pg_trigger
    WHERE NOT tgisinternal
    UNION ALL
    SELECT 'f:' || oid::regprocedure || ':' || md5(prosrc) FROM pg_proc
    WHERE pronamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'k:' || conrelid::regclass || '.' || conname || ':' || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'i:' || indexdef FROM pg_indexes WHERE schemaname = 'public'
    UNION ALL
    SELECT 's:' || array_to_string(setconfig, ';') FROM pg_db_role_setting
    WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
    UNION ALL
    SELECT 'b:' || le FROM metric_buckets
    UNION ALL
    SELECT 'v:' || version FROM schema_migrations
) AS parts (part)
"""


def _fingerprint(conn: psycopg.Connection[tuple[object, ...]]) -> str:
    row = conn.execute(FINGERPRINT).fetchone()
    return str(row[0] if row else "")


@cache
def _template_fingerprint() -> str:
    """The fingerprint of a fresh clone (read once a session)."""
    url = _clone()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            return _fingerprint(conn)
    finally:
        drop_test_database(url)


def _reuse(url: str) -> bool:
    """Empty the database for the next test when it may be reused (see the module doc);
    False when it must be dropped."""
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            if not _alone(conn):
                return False
            if _fingerprint(conn) != _template_fingerprint():
                return False
            tables = [
                sql.Identifier(str(name))
                for (name,) in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                    " AND tablename <> ALL (%s)",
                    (list(KEPT_TABLES),),
                )
            ]
            if tables:
                conn.execute(
                    sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
                        sql.SQL(", ").join(tables)
                    )
                )
            return True
    except psycopg.Error:  # dropped by the test, or the server restarted: drop it
        return False


def other_sessions(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    """How many other sessions are connected to `conn`'s database."""
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    ).fetchone()
    assert row is not None
    count = row[0]
    assert isinstance(count, int)
    return count


def _alone(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    """Whether no other session is connected (a test's closed connections may take a
    moment to go; a worker left running never does)."""
    deadline = time.monotonic() + SESSIONS_GONE_S
    while True:
        if other_sessions(conn) == 0:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)


@atexit.register
def _drop_spares() -> None:
    while _SPARES:
        with suppress(psycopg.Error):
            drop_test_database(_SPARES.pop())


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

"""Open a store by URL: the default database, URL checks, and the backend a scheme names
(importing its driver only when that backend is used). `queuectl.store` re-exports these."""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Any

from queuectl.errors import StoreError
from queuectl.store import ahead

if TYPE_CHECKING:
    from pathlib import Path

    from queuectl.store.base import Store

_CHECKED: set[str] = set()  # URLs whose schema this process found current (reuse_check)


def default_db_path() -> Path:
    """`queuectl.db` in the user's data directory (created on first use)."""
    from pathlib import Path

    return Path(_default_db_file())


def _default_db_file() -> str:
    """On Linux, the XDG rule written out ($XDG_DATA_HOME when it is an absolute path,
    else ~/.local/share): importing platformdirs costs 13 ms, a quarter of an `enqueue`.
    Elsewhere, platformdirs decides."""
    # (A variable: mypy checks one platform.) Android's Python says "linux" before 3.13.
    linux = sys.platform.startswith("linux") and not hasattr(sys, "getandroidapilevel")
    if linux:
        base = os.environ.get("XDG_DATA_HOME", "")
        if not os.path.isabs(base):
            base = os.path.expanduser("~/.local/share")
        return os.path.join(base, "queuectl", "queuectl.db")
    from platformdirs import user_data_path

    return str(user_data_path("queuectl") / "queuectl.db")


def resolve_url(url: str | None) -> str:
    """The `--db` value, `QUEUECTL_DB`, or the default SQLite file, as a URL-ish string."""
    url = url or os.environ.get("QUEUECTL_DB") or ""
    if url.strip():
        return url.strip()
    default = _default_db_file()
    os.makedirs(os.path.dirname(default), exist_ok=True)  # first use of the default
    return default


def open_store(
    url: str | None = None,
    *,
    durable: bool = True,
    migrate: bool = True,
    reuse_check: bool = False,
    create: bool = True,
    shared: bool = False,
) -> Store:
    """Open (and migrate on first use) the store at `url`: a path or `sqlite:///path` for
    SQLite, `postgresql://...` for PostgreSQL, `redis://...` for Redis, or a scheme
    another package registers (backend_class). `durable=False` (workers) lets a power cut
    roll back the last few commits, which only makes those jobs run again. `migrate=False`
    leaves an old schema as it is (for `db migrate`, which reports what it applies).
    `reuse_check=True` (servers opening a connection per thread) checks and migrates the
    schema only the first time this process opens the URL; later opens skip that query.
    `create=False` (commands that only read or change existing jobs) refuses a SQLite file
    that does not exist, so a mistyped `--db` says so instead of making an empty queue.
    `shared=True` (the command line: each command is a process of its own) refuses a
    backend whose database lives in one process's memory (memory://)."""
    target = resolve_url(url)
    check_names_a_database(target)
    if not create:
        refuse_missing_file(target)
    opener = backend_class(target)
    if shared and getattr(opener, "process_local", False):
        scheme = target.split("://", 1)[0]
        raise StoreError(
            f"{scheme}:// lives in the memory of one process and every queuectl command is a "
            "process of its own: use a file path, postgresql:// or redis:// "
            f"({scheme}:// is for tests and Python code)"
        )
    check = not (reuse_check and target in _CHECKED)
    options = (durable, migrate, check)
    # In a fork server's child, the store its spare opened ahead, if it is this one.
    store: Store | None = ahead.take(target, options)
    if store is None:
        store = opener(target, durable=durable, migrate=migrate, check_schema=check)
    ahead.remember(target, options, store)
    if reuse_check and migrate:
        _CHECKED.add(target)
    return store


def check_names_a_database(url: str) -> None:
    """A PostgreSQL URL without a database name would connect to the server's default
    database (through the local socket, if no host) and put queuectl's tables there; a
    Redis URL whose database part is not a number would silently use database 0."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in ("postgresql", "postgres", "redis", "rediss"):
        return
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(url)
    name = parts.path.strip("/")
    if scheme.startswith("postgres") and name == "" and "dbname" not in parse_qs(parts.query):
        raise StoreError(f"{scheme}:// URL names no database: write postgresql://user@host/DBNAME")
    if scheme.startswith("redis") and name and not name.isdigit():
        raise StoreError(
            f"Redis database {name[:40]!r} is not a number: write redis://host:port/0 (0-15)"
        )


def refuse_missing_file(url: str) -> None:
    if "://" in url and not url.lower().startswith("sqlite:"):
        return
    from queuectl.store.sqlite_connect import sqlite_path

    path = sqlite_path(url)
    if path.strip() and not os.path.exists(path):
        raise StoreError(
            f"no queuectl database at {path}: the file does not exist (a typo? "
            "`enqueue`, `worker start` and `db migrate` create one)"
        )


# The backends that ship with queuectl, by URL scheme (a plain path is SQLite), as
# "module:class"; pyproject.toml registers the same in the entry-point group, where other
# packages add theirs. Built-ins resolve from this table: scanning installed packages'
# entry points costs far more than `queuectl enqueue`'s whole start-up, so only a scheme
# not listed here is looked up there.
ENTRY_POINT_GROUP = "queuectl.backends"
BUILT_IN = {
    "sqlite": "queuectl.store.sqlite:SqliteStore",
    "postgresql": "queuectl.store.postgres:PostgresStore",
    "postgres": "queuectl.store.postgres:PostgresStore",
    "redis": "queuectl.store.redis:RedisStore",
    "rediss": "queuectl.store.redis:RedisStore",
    "memory": "queuectl.store.memory:MemoryStore",
}
# What a built-in backend needs installed: (its name, the extra that brings its driver).
_EXTRAS = {
    "queuectl.store.postgres": ("PostgreSQL", "postgres"),
    "queuectl.store.redis": ("Redis", "redis"),
}


def backend_class(url: str) -> Any:
    """The class that opens `url`: a backend takes (url, durable=, migrate=,
    check_schema=) and implements queuectl.store.base.Store. StoreError for a scheme no
    backend claims; StoreError (one line, naming the extra) when its driver is missing."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else "sqlite"
    target = BUILT_IN.get(scheme) or _entry_point(scheme)
    if target is None:
        known = ", ".join(f"{name}://" for name in BUILT_IN)
        raise StoreError(
            f"unsupported database URL scheme {scheme!r} (use a file path or one of {known})"
        )
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        name, extra = _EXTRAS.get(module_name, (scheme, None))
        if extra is None:
            raise StoreError(f"cannot load the {scheme}:// backend {target}: {err}") from None
        raise StoreError(
            f"{name} support is not installed: pip install 'queuectl[{extra}]'"
        ) from None
    return getattr(module, class_name)


def _entry_point(scheme: str) -> str | None:
    from importlib.metadata import entry_points

    found = entry_points(group=ENTRY_POINT_GROUP, name=scheme)
    return next((ep.value for ep in found), None)


def database_identity(url: str) -> str:
    """A SQLite file's absolute path (symlinks resolved), or a server's URL without its
    password: `q.db`, `./q.db` and `sqlite:///q.db` are one database, and so are two
    spellings of a URL that differ only in the password (which must not reach a file name
    anyway)."""
    if "://" not in url or url.lower().startswith("sqlite:"):
        from queuectl.store.sqlite_connect import sqlite_path

        return os.path.realpath(sqlite_path(url))
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user_info, host = netloc.rsplit("@", 1)
        user = user_info.split(":", 1)[0]
        netloc = f"{user}@{host}" if user else host
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "password"]
    return urlunsplit((parts.scheme.lower(), netloc, parts.path, urlencode(query), ""))

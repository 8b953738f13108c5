"""Pick a backend by URL; import its driver only when that backend is used."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from queuectl.errors import InvalidSpec

if TYPE_CHECKING:
    from pathlib import Path

    from queuectl.store.base import ChangeWaiter, Store

__all__ = ["ChangeWaiter", "Store", "StorePool", "default_db_path", "open_store", "resolve_url"]

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_REDIS_SCHEMES = ("redis://", "rediss://")
_CHECKED: set[str] = set()  # URLs whose schema this process found current (reuse_check)


def __getattr__(name: str) -> Any:
    """`Store` and `ChangeWaiter` load on demand: a Protocol class costs start-up time."""
    if name in ("Store", "ChangeWaiter"):
        from queuectl.store import base

        return getattr(base, name)
    if name == "StorePool":
        from queuectl.store.pool import StorePool

        return StorePool
    raise AttributeError(name)


def default_db_path() -> Path:
    """`queuectl.db` in the user's data directory (created on first use)."""
    from platformdirs import user_data_path

    return user_data_path("queuectl") / "queuectl.db"


def resolve_url(url: str | None) -> str:
    """The `--db` value, `QUEUECTL_DB`, or the default SQLite file, as a URL-ish string."""
    url = url or os.environ.get("QUEUECTL_DB") or ""
    if url.strip():
        return url.strip()
    default = default_db_path()
    default.parent.mkdir(parents=True, exist_ok=True)  # first use of the default
    return str(default)


def open_store(
    url: str | None = None,
    *,
    durable: bool = True,
    migrate: bool = True,
    reuse_check: bool = False,
) -> Store:
    """Open (and migrate on first use) the store at `url`: a path or `sqlite:///path` for
    SQLite, `postgresql://...` for PostgreSQL, `redis://...` for Redis. `durable=False`
    (workers) lets a power cut roll back the last few commits, which only makes those jobs
    run again (on Redis, the server's settings decide: see durability_warning). `migrate=False`
    leaves an old schema as it is (for `db migrate`, which reports what it applies).
    `reuse_check=True` (servers opening a connection per thread) checks and migrates the
    schema only the first time this process opens the URL; later opens skip that query."""
    target = resolve_url(url)
    check = not (reuse_check and target in _CHECKED)
    store = _open(target, durable, migrate, check)
    if reuse_check and migrate:
        _CHECKED.add(target)
    return store


def _open(target: str, durable: bool, migrate: bool, check: bool) -> Store:
    if target.startswith(_REDIS_SCHEMES):
        from queuectl.store.redis import RedisStore

        return RedisStore(target, durable=durable, migrate=migrate, check_schema=check)
    if target.startswith(_POSTGRES_SCHEMES):
        from queuectl.store.postgres import PostgresStore

        return PostgresStore(target, durable=durable, migrate=migrate, check_schema=check)
    if "://" in target and not target.startswith("sqlite://"):
        scheme = target.split("://", 1)[0]
        raise InvalidSpec(
            f"unsupported database URL scheme {scheme!r} (use a file path, sqlite:///path, "
            "postgresql://... or redis://...)"
        )
    from queuectl.store.sqlite import SqliteStore

    return SqliteStore(target, durable=durable, migrate=migrate, check_schema=check)

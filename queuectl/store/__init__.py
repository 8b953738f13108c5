"""Pick a backend by URL; import its driver only when that backend is used.

Opening is opening.py's, lending stores to a server pool.py's; this package re-exports
what callers use, and loads the Protocol classes and the pool only when asked for."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from queuectl.store.opening import (
    BUILT_IN,
    ENTRY_POINT_GROUP,
    backend_class,
    check_names_a_database,
    default_db_path,
    open_store,
    refuse_missing_file,
    resolve_url,
)

if TYPE_CHECKING:
    from queuectl.store.base import ChangeWaiter, Store

__all__ = [
    "BUILT_IN",
    "ENTRY_POINT_GROUP",
    "ChangeWaiter",
    "Store",
    "StorePool",
    "backend_class",
    "check_names_a_database",
    "default_db_path",
    "open_store",
    "refuse_missing_file",
    "resolve_url",
]


def __getattr__(name: str) -> Any:
    """`Store` and `ChangeWaiter` load on demand: a Protocol class costs start-up time."""
    if name in ("Store", "ChangeWaiter"):
        from queuectl.store import base

        return getattr(base, name)
    if name == "StorePool":
        from queuectl.store.pool import StorePool

        return StorePool
    raise AttributeError(name)

"""The context every command gets: the database URL and a store opened on first use (so
`--help` and usage errors never touch the database). Click loads only for `pass_app`:
the fast path (cli/fast.py) makes an App of its own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import click

    from queuectl.store import Store


class App:
    """Per-invocation state: which database, and its store once a command needs it."""

    def __init__(self, db: str | None = None, db_from_env: bool = False) -> None:
        self.db = db
        self.db_from_env = db_from_env  # from QUEUECTL_DB rather than --db
        self._store: Store | None = None
        # Only commands that add work (and `worker start`) may create a database: any
        # other on a SQLite file that does not exist says so (a mistyped --db).
        self.may_create = False
        self._reaped = False

    @property
    def store(self) -> Store:
        if self._store is None:
            from queuectl.store import open_store

            self._store = open_store(self.db, create=self.may_create, shared=True)
        return self._store

    @property
    def jobs_store(self) -> Store:
        """The store, once the jobs of dead workers (lease expired) have been failed back
        to their retry rules: what commands that read or change jobs use, so a job never
        shows `processing` for a worker that is gone."""
        store = self.store
        if not self._reaped:
            self._reaped = True
            from queuectl.service.leases import reap_expired

            reap_expired(store)
        return store

    def warn_if_not_durable(self) -> None:
        """One line on stderr when the database would lose acknowledged jobs in a crash or
        restart (`status`, `ping` and `worker start --detach` say so; a worker logs it).
        A database that cannot be reached says nothing here: the command itself reports
        it (or, for a worker, waits for it)."""
        from queuectl import service
        from queuectl.cli import output
        from queuectl.errors import StoreError

        try:
            warning = service.durability_warning(self.store)
        except StoreError:
            return
        if warning is not None:
            output.warn(warning)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


if TYPE_CHECKING:
    pass_app = click.make_pass_decorator(App)


def __getattr__(name: str) -> Any:
    """`pass_app`, the decorator that hands a command its App, made on first use."""
    if name != "pass_app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import click

    decorator = click.make_pass_decorator(App)
    globals()["pass_app"] = decorator
    return decorator

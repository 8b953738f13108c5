"""Stores for a server that answers many requests at once.

One Store object serialises its calls on one connection, so a server sharing one would
queue every read behind the slowest request. A pool lends each request a store of its own:
with SQLite in WAL mode readers never wait for the writer (nor for each other); with
PostgreSQL each store is a connection of its own. Only the first store opened checks (and
migrates) the schema; the others skip that query (open_store's reuse_check).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from queuectl.errors import StoreUnavailable
from queuectl.store.opening import open_store, resolve_url

if TYPE_CHECKING:
    from queuectl.store.base import Store


class StorePool:
    """At most `size` stores on one URL, lent one request at a time (`with pool.store() as
    s:`), kept open between requests. A request that finds every store lent waits up to
    `wait` seconds, then gets StoreUnavailable (a 503 with Retry-After, not a hang)."""

    def __init__(self, url: str | None, size: int = 16, wait: float = 10.0) -> None:
        if size < 1:
            raise ValueError("a pool holds at least one store")
        self.url = resolve_url(url)
        self.size = size
        self.wait = wait
        self._idle: list[Store] = [open_store(self.url, reuse_check=True)]  # fails early
        self._open = 1
        self._closed = False
        self._cond = threading.Condition()

    @contextmanager
    def store(self) -> Iterator[Store]:
        """A store for this request alone; returned to the pool afterwards."""
        store = self._take()
        try:
            yield store
        finally:
            self._give_back(store)

    def _take(self) -> Store:
        with self._cond:
            if not self._cond.wait_for(
                lambda: self._closed or self._idle or self._open < self.size, self.wait
            ):
                raise StoreUnavailable(f"all {self.size} database connections are busy")
            if self._closed:
                raise StoreUnavailable("the server is shutting down")
            if self._idle:
                return self._idle.pop()  # the most recently used: its connection is warm
            self._open += 1
        try:
            return open_store(self.url, reuse_check=True)
        except BaseException:
            with self._cond:
                self._open -= 1
                self._cond.notify()
            raise

    def _give_back(self, store: Store) -> None:
        with self._cond:
            if not self._closed:
                self._idle.append(store)
                self._cond.notify()
                return
            self._open -= 1
        store.close()

    def close(self) -> None:
        """Close the idle stores now, and each lent one when it comes back."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._cond.notify_all()
        for store in idle:
            store.close()

"""One store per server thread: sync handlers run in a thread pool, and each thread keeps
its own connection, so reads never queue behind one connection and its lock."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from queuectl.store.base import Store


class ThreadStores:
    """Opens the store once (migrating it, so a bad URL fails at start-up), then lazily
    one more per thread that asks; the schema is checked once per URL per process."""

    def __init__(self, url: str | None) -> None:
        from queuectl.store import open_store, resolve_url

        self.url = resolve_url(url)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opened: list[Store] = [open_store(self.url, reuse_check=True)]
        self._local.store = self._opened[0]
        self.backend = self._opened[0].backend

    def get(self) -> Store:
        """This thread's store, opened on first use."""
        store: Store | None = getattr(self._local, "store", None)
        if store is None:
            from queuectl.store import open_store

            store = open_store(self.url, reuse_check=True)
            self._local.store = store
            with self._lock:
                self._opened.append(store)
        return store

    def open_extra(self) -> Store:
        """A store of its own for a long-lived thread (the event hub, an output follower);
        the caller closes it."""
        from queuectl.store import open_store

        return open_store(self.url, reuse_check=True)

    def close(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
        for store in opened:
            store.close()

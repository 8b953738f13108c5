"""How a worker hears that its store changed (new work, orders), without polling.

The store's change waiter is watched in the worker's selector when it has a file
descriptor (inotify on SQLite, LISTEN on PostgreSQL, SUBSCRIBE on Redis); else a thread
blocks in it and pokes the worker's wake-up pipe. A waiter that lost its connection and
has no descriptor for a while is asked again every LISTEN_RETRY_S; meanwhile the
worker's poll interval is the fallback. Once it has one again, the store answers again:
`back` tells a worker pausing through an outage to try its store at once. A worker that
could not act on a change takes them on a timer instead (`attend`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import threading
import time
from collections.abc import Callable

from queuectl.errors import StoreError
from queuectl.store import ChangeWaiter, Store

log = logging.getLogger("queuectl.worker")

LISTEN_RETRY_S = 0.25  # how often a waiter that lost its connection tries again
# How long a worker with nothing running waits for a change it saw under way to become
# visible (a SQLite commit between its WAL write and its sync): seeing it at once is its
# pickup time, and it has nothing else to do. A busy worker never waits for one: it
# looks again when the waiter says (look_again_at), running its jobs meanwhile.
IDLE_SETTLE_S = 0.01
# How often a worker that has no use for a change right now (every slot busy, no claim to
# make) takes what its waiter heard: for cancel and stop orders. Meanwhile its descriptor
# is out of the selector. Each SQLite commit writes the WAL several times, and each write
# woke every process of every worker on the database, dozens of wake-ups a job, to learn
# nothing it could act on.
BUSY_LOOK_S = 0.1


class ChangeWatch:
    """The worker's change waiter. Its selector key's data is "changes": on that key (and
    when `relisten_due`), the worker calls `take`. The thread, where there is one, calls
    `heard` itself and wakes the loop through `wake_fd`."""

    def __init__(
        self, selector: selectors.BaseSelector, wake_fd: int, heard: Callable[[], None]
    ) -> None:
        self.selector = selector
        self.wake_fd = wake_fd
        self.heard = heard
        self.waiter: ChangeWaiter | None = None
        self._fd: int | None = None
        self._in_selector = False  # watched in the selector, not by a thread
        self._eager = True  # the descriptor is in the selector (see `attend`)
        self._next_busy_look = 0.0
        self._next_listen = 0.0
        self.reconnected = False  # connected again since `back` was last asked

    def start(self, store: Store) -> None:
        try:
            self.waiter = store.change_waiter()
        except StoreError as err:
            log.warning("no change notifications (%s); polling instead", err)
            return
        self._fd = self.waiter.fileno()
        if self._fd is not None:
            self.selector.register(self._fd, selectors.EVENT_READ, "changes")
            self._in_selector = True
            return
        threading.Thread(target=self._listen, name="waiter", daemon=True).start()

    def take(self, idle: bool = False) -> bool:
        """Consume what the waiter has; whether something may have changed. `idle`: the
        worker runs nothing, and may wait IDLE_SETTLE_S for a change under way."""
        assert self.waiter is not None
        try:
            changed = self.waiter.wait(IDLE_SETTLE_S if idle else 0)
        except StoreError:
            changed = True
        # The waiter may have reconnected, on a new socket that can have the old number
        # (which epoll forgot when it closed): watch whatever it has now, afresh.
        lost = self._fd is None
        if self._fd is not None and self._eager:
            self.selector.unregister(self._fd)
        self._fd = self.waiter.fileno()
        if self._fd is not None:
            if self._eager:
                self.selector.register(self._fd, selectors.EVENT_READ, "changes")
            self.reconnected = self.reconnected or lost
        self._next_busy_look = time.monotonic() + BUSY_LOOK_S
        return changed

    def attend(self, eager: bool) -> None:
        """`eager`: a change could be acted on at once (nothing runs, or a claim would be
        made), so the waiter's descriptor wakes the loop; else it leaves the selector and
        the loop takes changes every BUSY_LOOK_S (look_again_at). What the waiter hears
        meanwhile waits for it (inotify's queue, the socket), and wakes the loop as soon
        as the descriptor is back."""
        if eager == self._eager or not self._in_selector:
            return
        self._eager = eager
        if self._fd is None:
            return  # no connection: `take` registers the next one as `eager` says
        if eager:
            self.selector.register(self._fd, selectors.EVENT_READ, "changes")
        else:
            self.selector.unregister(self._fd)
            self._next_busy_look = time.monotonic() + BUSY_LOOK_S

    def back(self) -> bool:
        """Whether the waiter got its connection back since last asked: the store answers
        again (a wake-up on reconnect, not the end of an outage's backoff)."""
        back, self.reconnected = self.reconnected, False
        return back

    def look_again_at(self) -> float | None:
        """When to `take` again, the descriptor quiet: a change was seen under way, or
        the descriptor is out of the selector (`attend`)."""
        if self.waiter is None or not self._in_selector:
            return None
        if not self._eager and self._fd is not None:
            return self._next_busy_look
        # (A backend of another package may predate look_again_at: it never asks.)
        look_again_at = getattr(self.waiter, "look_again_at", None)
        return None if look_again_at is None else look_again_at()

    def relisten_at(self) -> float | None:
        """When to ask a waiter that lost its connection again (None: it has none to lose)."""
        return self._next_listen if self._in_selector and self._fd is None else None

    def relisten_due(self, now: float) -> bool:
        if (at := self.relisten_at()) is None or now < at:
            return False
        self._next_listen = now + LISTEN_RETRY_S
        return True

    def close(self) -> None:
        if self.waiter is not None:
            self.waiter.close()

    def _listen(self) -> None:
        waiter = self.waiter
        assert waiter is not None
        while True:
            try:
                changed = waiter.wait(1.0)
            except StoreError:
                time.sleep(1.0)
                continue
            except Exception:  # closed at shutdown
                return
            if changed:
                self.heard()
                # A full pipe already holds a wake-up; a closed one: we are shutting down.
                with contextlib.suppress(OSError):
                    os.write(self.wake_fd, b"c")

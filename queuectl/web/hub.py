"""Server-sent events for every connected client from ONE database waiter.

A single thread owns `store.change_waiter()`. When the database changes (or every few
seconds, so worker heartbeats age) and someone is listening, it computes the status and
the workers once and hands the result to each subscriber; idle clients cost no database
queries. A subscriber keeps only the latest message per event name, so a slow client
skips stale snapshots instead of growing a queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from queuectl.store.base import ChangeWaiter, Store

log = logging.getLogger("queuectl.web")

PING_SECONDS = 15.0
REFRESH_SECONDS = 5.0  # recompute this often even without a change (heartbeat ages)
MIN_GAP_SECONDS = 0.1  # at most ~10 computations a second under a burst of changes

Snapshot = dict[str, msgspec.Struct]  # event name -> its data


def sse_message(event: str, data: object) -> bytes:
    """One event in the text/event-stream format (data is one JSON line)."""
    return b"event: " + event.encode() + b"\ndata: " + msgspec.json.encode(data) + b"\n\n"


PING = b": ping\n\n"


class Subscriber:
    """One client's mailbox: the latest message of each event, and a flag to wake it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: dict[str, bytes] = {}
        self.ready = asyncio.Event()

    def offer(self, event: str, message: bytes) -> None:
        """Called on the event loop."""
        self.pending[event] = message
        self.ready.set()

    def take(self) -> list[bytes]:
        messages = list(self.pending.values())
        self.pending.clear()
        self.ready.clear()
        return messages


class EventHub:
    """The waiter thread and the set of subscribers it feeds."""

    def __init__(
        self, open_store: Callable[[], Store], compute: Callable[[Store], Snapshot]
    ) -> None:
        self._open_store = open_store
        self._compute = compute
        self._subscribers: set[Subscriber] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._last: dict[str, bytes] = {}
        self.computations = 0  # how many snapshots were computed (tests, benchmarks)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def subscribe(self, loop: asyncio.AbstractEventLoop) -> Subscriber:
        subscriber = Subscriber(loop)
        with self._lock:
            self._subscribers.add(subscriber)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="queuectl-events")
                self._thread.daemon = True
                self._thread.start()
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(subscriber)

    def stop(self) -> None:
        self._stopping.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=REFRESH_SECONDS + 5)

    # -- the waiter thread -------------------------------------------------------------

    def _run(self) -> None:
        store: Store | None = None
        waiter: ChangeWaiter | None = None
        changed = False
        while not self._stopping.is_set():
            try:
                if store is None or waiter is None:
                    store = self._open_store()
                    waiter = store.change_waiter()
                    self._last = {}
                changed = self._cycle(store, waiter, changed)
            except Exception as err:  # database away: keep clients, retry shortly
                from queuectl.web.errors import one_line

                log.warning("event hub: %s; retrying", one_line(str(err)))
                _close(waiter, store)
                store = waiter = None
                self._stopping.wait(2.0)
        _close(waiter, store)

    def _cycle(self, store: Store, waiter: ChangeWaiter, changed: bool) -> bool:
        """Publish a fresh snapshot if anyone listens, then sleep until the database
        changes (True) or the periodic refresh is due (False)."""
        if self._subscribers:
            self._publish(self._compute(store), changed)
        else:
            self._last = {}  # nobody listens: what we published goes stale
        deadline = time.monotonic() + REFRESH_SECONDS
        while not self._stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if waiter.wait(min(remaining, 1.0)):
                self._stopping.wait(MIN_GAP_SECONDS)  # let a burst settle
                waiter.wait(0)
                return True
            if self._subscribers and not self._last:
                return False  # a first subscriber arrived while idle
        return False

    def _publish(self, snapshot: Snapshot, changed: bool) -> None:
        self.computations += 1
        fresh: dict[str, bytes] = {}
        for event, data in snapshot.items():
            message = sse_message(event, data)
            if self._last.get(event) != message:
                fresh[event] = message
        self._last.update(fresh)
        if changed or "status" in fresh:  # counts moved: some listing did too
            fresh["jobs"] = sse_message("jobs", {"changed": True})
        if not fresh:
            return
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            for event, message in fresh.items():
                try:
                    subscriber.loop.call_soon_threadsafe(subscriber.offer, event, message)
                except RuntimeError:  # its loop has closed: the server is stopping
                    self.unsubscribe(subscriber)

    def latest(self) -> list[bytes]:
        """The last published messages (a new client starts with these)."""
        return [m for e, m in self._last.items() if e != "jobs"]

    async def stream(self, first: list[bytes]) -> AsyncIterator[bytes]:
        """One client's event stream: `first`, then each change, a ping every 15 s.
        Ends (and unsubscribes) when the client disconnects and the response is
        cancelled."""
        subscriber = self.subscribe(asyncio.get_running_loop())
        try:
            yield b"retry: 2000\n\n"
            for message in first:
                yield message
            while True:
                try:
                    await asyncio.wait_for(subscriber.ready.wait(), PING_SECONDS)
                except TimeoutError:
                    yield PING
                    continue
                for message in subscriber.take():
                    yield message
        finally:
            self.unsubscribe(subscriber)


def _close(*closables: Store | ChangeWaiter | None) -> None:
    for closable in closables:
        if closable is not None:
            with contextlib.suppress(Exception):
                closable.close()

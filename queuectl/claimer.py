"""A worker's claims on a server store, made in a thread on a connection of their own.

On PostgreSQL and Redis a claim is a round trip to the server: asked from the worker's
loop, it would hold every slot's next start until the answer came back. The loop asks
the claimer instead and goes on running jobs; the thread makes the claim (the driver
waits for the server with the GIL released) and wakes the loop through its wake-up pipe.
One claim at a time is in flight. The answer, or the store's error, is taken by the
loop's claim step, so errors are handled there as before. A worker with nothing
running claims on its own connection: there is nothing to overlap, and the hand-off to
the thread and back would only delay the first job.

Claims are atomic on the server and name the worker, so which connection made one does
not matter to leases, heartbeats or results. A claim whose answer is lost is the store's
to recover, whichever connection claims next (the lease rules; Redis keeps the lost
claims for the process, not the connection).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Sequence

from queuectl.models import Job
from queuectl.store import open_store

Question = tuple[str, Sequence[str] | None, int, float]  # worker, queues, limit, lease


class Claimer:
    """Asks are made with `ask`, answers taken with `take`; `pending` between the two."""

    def __init__(self, url: str, wake_fd: int) -> None:
        self._store = open_store(url, durable=False, reuse_check=True)
        self._wake_fd = wake_fd
        self._changed = threading.Condition()
        self._question: Question | None = None
        self._answer: list[Job] | BaseException | None = None
        self._closing = False
        self.pending = False  # asked, answer not taken yet
        self.asked = 0  # how many jobs the claim in flight asked for
        self._thread = threading.Thread(target=self._serve, name="claimer", daemon=True)
        self._thread.start()

    def ask(
        self, worker_id: str, queues: Sequence[str] | None, limit: int, lease_seconds: float
    ) -> None:
        with self._changed:
            if self.pending:
                raise RuntimeError("a claim is already in flight")
            self.pending = True
            self.asked = limit
            self._question = (worker_id, queues, limit, lease_seconds)
            self._changed.notify_all()

    def take(self, wait: bool = False) -> list[Job] | None:
        """The claimed jobs, or None while the answer is on its way (with `wait`, wait for
        it); raises the claim's error. Nothing pending: an empty list."""
        with self._changed:
            if not self.pending:
                return []
            while wait and self._answer is None:
                self._changed.wait()
            answer, self._answer = self._answer, None
            if answer is None:
                return None
            self.pending = False
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def close(self, wait: bool = True) -> None:
        """Stop the thread, after the claim in flight if any, and close its connection.
        Without `wait` (a store given up on), a thread still stuck in a claim is left to
        end with the process."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._thread.join(None if wait else 0.1)
        if not self._thread.is_alive():
            self._store.close()

    def _serve(self) -> None:
        while True:
            with self._changed:
                while self._question is None and not self._closing:
                    self._changed.wait()
                if self._question is None:
                    return
                question, self._question = self._question, None
            answer: list[Job] | BaseException
            try:
                answer = self._store.claim_jobs(*question)
            except Exception as err:  # the store's error, or a bug: raised by `take`
                answer = err
            with self._changed:
                self._answer = answer
                self._changed.notify_all()
            # A full pipe already holds a wake-up; a closed one: the worker is gone.
            with contextlib.suppress(OSError):
                os.write(self._wake_fd, b"c")

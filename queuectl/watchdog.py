"""The last resort of a stopping worker: end the process at a deadline, whatever it is
doing then (a database call may hang for good: a frozen server, a lock never released).

A thread that costs nothing until armed. `arm` only writes to a pipe, so a signal
handler may call it (an Event would take a lock the interrupted code may hold)."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable


class Watchdog:
    def __init__(self, last_words: Callable[[], None]) -> None:
        """`last_words` runs in the watchdog's thread just before the process exits."""
        self.last_words = last_words
        self.deadline: float | None = None  # monotonic
        armed, self._arm_fd = os.pipe()
        os.set_blocking(self._arm_fd, False)
        thread = threading.Thread(target=self._run, args=(armed,), name="watchdog", daemon=True)
        thread.start()

    def arm(self, seconds: float) -> None:
        """Exit in `seconds` unless the process has by then; an earlier deadline wins."""
        deadline = time.monotonic() + seconds
        if self.deadline is None or deadline < self.deadline:
            self.deadline = deadline
            with contextlib.suppress(OSError):  # full: it is armed already
                os.write(self._arm_fd, b"!")

    def disarm(self) -> None:
        """The stop ended in time: the process goes on (a worker run in-process, by a
        test or an embedding program, returns from `run` and must not be ended later)."""
        self.deadline = None

    def _run(self, armed: int) -> None:
        os.read(armed, 1)
        while self.deadline is not None and (left := self.deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.5))
        if self.deadline is None:
            return  # disarmed
        self.last_words()
        os._exit(0)

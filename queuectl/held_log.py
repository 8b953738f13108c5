"""Log lines that a process of a worker supervisor holds and writes together.

Each write to the supervisor's pipe woke the supervisor to pass the line on, and a busy
process writes two lines a job: a drain of `true` jobs took a sixth longer with its log
on than with `--quiet`.
A line now waits at most HOLD_S, or less: the worker's loop writes the lines held before
it sleeps past their time, and after a wake-up once they are due. A warning or an error
goes out at once, with the lines before it, and so does a line logged by another thread
(the loop may be asleep). At exit, logging's shutdown writes what is left.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import TextIO

HOLD_S = 0.1


class HeldLines(logging.StreamHandler[TextIO]):
    """A stream handler that writes its lines in one write, about HOLD_S late at most
    while the loop runs (see the module's docstring)."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self.lines: list[str] = []
        self.due: float | None = None  # monotonic: when the held lines are to be written
        self._loop_thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record) + self.terminator)
        except Exception:
            self.handleError(record)
            return
        if record.levelno >= logging.WARNING or threading.get_ident() != self._loop_thread:
            self.flush()
        elif self.due is None:
            self.due = time.monotonic() + HOLD_S

    def flush(self) -> None:
        self.acquire()  # (a reentrant lock: `emit` holds it already)
        try:
            if self.lines:
                text, self.lines, self.due = "".join(self.lines), [], None
                # A closed or broken stderr loses the lines; the worker goes on (as
                # logging's own handlers do).
                with contextlib.suppress(OSError, ValueError):
                    self.stream.write(text)
                    self.stream.flush()
        finally:
            self.release()

    def flush_if_due(self, now: float) -> None:
        due = self.due  # (once: another thread's line may write them meanwhile)
        if due is not None and now >= due:
            self.flush()

    def write_before(self, wake_at: float | None) -> None:
        """Write the held lines now if the caller sleeps until after they are due
        (`wake_at` None: until an event): a sleep is never cut short for them."""
        due = self.due
        if due is not None and (wake_at is None or wake_at > due):
            self.flush()


def held_lines() -> HeldLines | None:
    """The root logger's HeldLines handler, if this process holds its lines."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, HeldLines):
            return handler
    return None

"""A supervisor's process holds its log lines and writes them together (held_log.py)."""

from __future__ import annotations

import io
import logging
import threading
from typing import Any

from queuectl.held_log import HOLD_S, HeldLines
from queuectl.worker_options import WorkerOptions
from tests.helpers import stepped_worker


class CountedWrites(io.StringIO):
    """A stream that counts its writes: one per flush is the point."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def _record(message: str, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord("queuectl.worker", level, "", 0, message, None, None)


def _due(handler: HeldLines) -> float | None:
    return handler.due  # (read anew: mypy keeps an attribute narrowed across calls)


def test_lines_wait_until_due_then_go_in_one_write() -> None:
    stream = CountedWrites()
    handler = HeldLines(stream)
    handler.handle(_record("one"))
    first_due = handler.due
    assert first_due is not None
    handler.handle(_record("two"))
    assert handler.due == first_due  # the first line held sets when all go
    handler.flush_if_due(first_due - HOLD_S / 2)
    assert (stream.getvalue(), stream.writes) == ("", 0)
    handler.flush_if_due(first_due)
    assert (stream.getvalue(), stream.writes) == ("one\ntwo\n", 1)
    assert _due(handler) is None
    handler.flush()  # nothing held: no empty write
    assert stream.writes == 1


def test_a_warning_goes_at_once_with_the_lines_before_it() -> None:
    stream = CountedWrites()
    handler = HeldLines(stream)
    handler.handle(_record("started"))
    handler.handle(_record("lost it", logging.WARNING))
    assert (stream.getvalue(), stream.writes) == ("started\nlost it\n", 1)
    assert handler.due is None


def test_a_line_from_another_thread_goes_at_once() -> None:
    """The loop may be asleep with nothing held: it would not write the line for it."""
    stream = CountedWrites()
    handler = HeldLines(stream)
    thread = threading.Thread(target=handler.handle, args=(_record("from the claimer"),))
    thread.start()
    thread.join(10)
    assert stream.getvalue() == "from the claimer\n"


def test_logging_shutdown_writes_what_is_held() -> None:
    stream = CountedWrites()
    handler = HeldLines(stream)
    handler.handle(_record("last line"))
    logging.shutdown([lambda: handler])  # what the interpreter runs at exit
    assert stream.getvalue() == "last line\n"


def test_lines_are_written_before_a_sleep_past_their_time() -> None:
    stream = CountedWrites()
    handler = HeldLines(stream)
    handler.handle(_record("one"))
    due = _due(handler)
    assert due is not None
    handler.write_before(due - HOLD_S / 2)  # back before they are due: they wait
    assert stream.getvalue() == ""
    handler.write_before(due + HOLD_S)
    assert stream.getvalue() == "one\n"
    handler.handle(_record("two"))
    handler.write_before(None)  # a sleep until an event
    assert stream.getvalue() == "one\ntwo\n"


def test_a_write_that_fails_loses_the_lines_not_the_worker() -> None:
    stream = CountedWrites()
    handler = HeldLines(stream)
    handler.handle(_record("lost"))
    stream.close()  # as a stderr whose reader has gone
    handler.flush()
    assert _due(handler) is None


def test_the_worker_loop_writes_held_lines_before_it_sleeps(store_url: str) -> None:
    """A loop about to sleep past the held lines' time writes them first, and its sleep
    is not cut short for them (an idle process under -v logs a line each wait)."""
    stream = CountedWrites()
    handler = HeldLines(stream)
    logging.getLogger().addHandler(handler)
    try:
        with stepped_worker(store_url, WorkerOptions(slots=1)) as worker:
            assert worker.held_log is handler
            slept: list[tuple[float | None, str]] = []
            select = worker.selector.select

            def noted(timeout: float | None = None) -> list[Any]:
                slept.append((timeout, stream.getvalue()))
                return select(timeout)

            worker.selector.select = noted  # type: ignore[method-assign]
            worker.heartbeat()  # its timers booked, no claim to make: its own sleep is
            worker.reap_expired()  # the poll interval (0.5 s)
            worker.claims.claim()
            handler.handle(_record("job j1 attempt 1 started: true"))
            worker.wait()
            timeout, written = slept[-1]
            assert timeout is not None and timeout > HOLD_S
            assert written == "job j1 attempt 1 started: true\n"
    finally:
        logging.getLogger().removeHandler(handler)

"""What wakes a worker's loop from its wait, besides its commands and the store's changes.

The wake-up pipe: the claimer's thread and the change waiter's write to it when they
have something for the loop, and so does Python itself when a signal comes in
(`signal.set_wakeup_fd`). The signal handlers only set flags: SIGTERM and SIGINT ask for
a stop, SIGCHLD says that an orphan we inherited (as a child subreaper) may need reaping.
Whoever runs a worker in-process gets its own handlers back afterwards.
"""

from __future__ import annotations

import os
import selectors
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

Handler = Callable[[int, FrameType | None], None]


class Wakeups:
    """The wake-up pipe, watched in `selector` with key data "wake", and the signal
    handlers the worker installed (only in the main thread, where Python allows them)."""

    def __init__(self, selector: selectors.BaseSelector) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        os.set_blocking(self.write_fd, False)
        selector.register(self.read_fd, selectors.EVENT_READ, "wake")
        self._replaced: dict[signal.Signals, Any] = {}  # signal handlers we replaced
        self._on_child = False

    def install(self, on_stop: Handler, on_child: Handler | None) -> bool:
        """Handle SIGTERM and SIGINT with `on_stop`, and SIGCHLD with `on_child` if given;
        whether they could be installed (only in the main thread)."""
        if threading.current_thread() is not threading.main_thread():
            return False
        signal.set_wakeup_fd(self.write_fd, warn_on_full_buffer=False)
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._replaced[sig] = signal.signal(sig, on_stop)
        if on_child is not None:
            signal.signal(signal.SIGCHLD, on_child)
            self._on_child = True
        return True

    def restore(self) -> None:
        """Give the signals back to whoever runs us in-process."""
        signal.set_wakeup_fd(-1)
        for sig, handler in self._replaced.items():
            signal.signal(sig, handler)
        if self._on_child and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)

    def drain(self) -> None:
        try:
            while os.read(self.read_fd, 4096):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        os.close(self.read_fd)
        os.close(self.write_fd)

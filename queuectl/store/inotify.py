"""Linux inotify through ctypes: sleep until a file in a directory is written.

The SQLite waiter uses it to learn about commits by other processes (each one writes the
WAL file) without polling, so an idle worker costs no CPU and still wakes at once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import struct
import time
from collections.abc import Iterable

IN_MODIFY = 0x002
IN_CLOSE_WRITE = 0x008
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then `len` bytes of name


class DirectoryWatch:
    """Wakes when one of `names` in `directory` is created or written.

    Raises OSError when inotify is not available (not Linux, no libc, out of watches)."""

    def __init__(self, directory: str, names: Iterable[str]) -> None:
        libc_name = ctypes.util.find_library("c") or "libc.so.6"
        libc = ctypes.CDLL(libc_name, use_errno=True)
        self._fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        mask = IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE
        if libc.inotify_add_watch(self._fd, os.fsencode(directory), mask) < 0:
            err = ctypes.get_errno()
            os.close(self._fd)
            raise OSError(err, f"cannot watch {directory}")
        self._names = {os.fsencode(name) for name in names}

    def wait(self, timeout: float) -> bool:
        """True as soon as a watched file changed; False after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:  # at least one look, so wait(0) drains pending events
            remaining = max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self._fd], [], [], remaining)
            if ready and self._drain():
                return True
            if remaining <= 0:
                return False

    def fileno(self) -> int:
        return int(self._fd)

    def _drain(self) -> bool:
        hit = False
        while True:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                return hit
            offset = 0
            while offset < len(data):
                _, _, _, length = _EVENT.unpack_from(data, offset)
                start = offset + _EVENT.size
                name = data[start : start + length].rstrip(b"\0")
                hit = hit or name in self._names
                offset = start + length

    def close(self) -> None:
        os.close(self._fd)

"""Linux inotify through ctypes: sleep until a file is written (or otherwise changed).

The SQLite waiter uses it to learn about commits by other processes (each one writes the
WAL file) without polling, so an idle worker costs no CPU and still wakes at once. The
fork server uses it to learn that a file it imported changed (an upgrade, an edit).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import select
import struct
import time
from collections.abc import Iterable

IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_CLOSE_WRITE = 0x008
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then `len` bytes of name

WRITTEN = IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE
# Any change to a file: written, or its times or mode changed, or removed or replaced.
CHANGED = WRITTEN | IN_ATTRIB | IN_DELETE | IN_MOVED_FROM
# The events of a directory about its names: a file made, removed or moved in or out.
NAMED = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO


@functools.cache
def _libc() -> ctypes.CDLL:
    """The C library, from the process's own symbols (Python is linked with it): looking it
    up by name (ctypes.util.find_library) runs `ldconfig -p`, a process of its own, for
    each watcher made. By name only where the process's symbols lack inotify."""
    libc = ctypes.CDLL(None, use_errno=True)
    if hasattr(libc, "inotify_init1"):
        return libc
    from ctypes.util import find_library

    return ctypes.CDLL(find_library("c") or "libc.so.6", use_errno=True)


class FileWatch:
    """Wakes when one of `paths` changes (`mask`: WRITTEN, created or written, by
    default). Each is watched through its directory, so a file made anew counts too;
    with `directly`, the directory only for its names coming and going (created, moved,
    removed) and each file itself for what is done to it (written, its times or mode):
    then writes to the directory's other files (a log beside a database) do not make the
    descriptor readable. A file made anew is watched itself at once.

    Raises OSError when inotify is not available (not Linux, no libc, out of watches)."""

    def __init__(
        self, paths: Iterable[str], mask: int = WRITTEN, *, directly: bool = False
    ) -> None:
        self._libc = _libc()
        self._fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self._mask = mask
        self._file_mask = mask & ~NAMED if directly else 0
        self._names: dict[int, set[bytes]] = {}  # a directory's watch: the names it is for
        self._files: dict[int, str] = {}  # a file's own watch (`directly`)
        self._directories: dict[str, str] = {}  # each path's directory
        by_directory: dict[str, set[bytes]] = {}
        for path in paths:
            # A symlink is watched where it is and where it leads (a change is made there).
            for seen in {os.path.abspath(path), os.path.realpath(path)}:
                directory, name = os.path.split(seen)
                by_directory.setdefault(directory, set()).add(os.fsencode(name))
                self._directories[seen] = directory
        try:
            for directory, names in by_directory.items():
                wd = self._add(directory, mask & NAMED if directly else mask)
                self._names.setdefault(wd, set()).update(names)
            self._watch_files()  # after their directories: none made unseen
        except OSError:
            os.close(self._fd)
            raise

    def _add(self, path: str, mask: int) -> int:
        wd = int(self._libc.inotify_add_watch(self._fd, os.fsencode(path), mask))
        if wd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"cannot watch {path}: {os.strerror(err)}")
        return wd

    def _watch_files(self) -> None:
        """Watch each file itself (`directly`) that is not watched yet; one not there is
        seen made in its directory, and watched then. One that cannot be watched (out of
        watches, no permission) is watched through its directory, whatever is written
        there."""
        if not self._file_mask:
            return
        for path in set(self._directories) - set(self._files.values()):
            try:
                self._files[self._add(path, self._file_mask)] = path
            except FileNotFoundError:
                continue
            except OSError:
                self._add(self._directories[path], self._mask)  # its mask replaced

    def _rewatch(self) -> None:
        """_watch_files as events are read: its directory is watched already, so a failure
        to widen that watch leaves it as it was."""
        with contextlib.suppress(OSError):
            self._watch_files()

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
                wd, mask, _, length = _EVENT.unpack_from(data, offset)
                start = offset + _EVENT.size
                name = data[start : start + length].rstrip(b"\0")
                offset = start + length
                if mask & IN_Q_OVERFLOW:  # events were lost: any of them may have been ours
                    hit = True
                    self._rewatch()  # (a file made meanwhile among them)
                elif wd in self._files:
                    if mask & IN_IGNORED:  # the file is gone; its directory says if it comes back
                        del self._files[wd]
                    else:
                        hit = True
                elif name in self._names.get(wd, ()):
                    hit = True
                    if mask & (IN_CREATE | IN_MOVED_TO):
                        self._rewatch()

    def changed(self) -> bool:
        """Whether a watched file changed since the last look (without waiting)."""
        return self._drain()

    def close(self) -> None:
        os.close(self._fd)

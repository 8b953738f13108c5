"""Opening a SQLite file: what a path means, the pragmas, and SQLite's errors in words a
user can act on (read-only file system, full disk, no permission)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable

from queuectl.errors import StoreError, StoreRefused


def busy_timeout_s() -> float:
    """How long to wait for another process's write lock: read when used, as a command
    run by the fork server has the caller's environment only from its start."""
    return float(os.environ.get("QUEUECTL_SQLITE_BUSY_TIMEOUT", "10"))


def sqlite_path(url: str) -> str:
    """SQLAlchemy's forms, `sqlite:///relative/path` and `sqlite:////absolute/path`, or a
    plain path (with ~ expanded)."""
    if url.startswith("sqlite:///"):
        return url[len("sqlite:///") :]
    if url.startswith("sqlite://"):
        return url[len("sqlite://") :]
    return os.path.expanduser(url)


def connect_file(path: str, durable: bool) -> sqlite3.Connection:
    if not path.strip() or path.strip() == ":memory:" or path.startswith("file:"):
        # SQLite would quietly open a temporary or in-memory database: every job lost.
        raise StoreError(f"not a database file path: {path!r} (give a file, e.g. ./queue.db)")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise StoreError(f"cannot open database {path}: directory {parent} does not exist")
    if os.path.isdir(path):
        raise StoreError(f"cannot open database {path}: it is a directory")
    try:
        conn = sqlite3.connect(
            path,
            timeout=busy_timeout_s(),  # the pragmas below read the schema: they may wait
            isolation_level=None,
            check_same_thread=False,
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        # FULL syncs the WAL on every commit: an acknowledged enqueue survives power loss.
        # Workers use NORMAL: a power cut may roll back their last claims or results,
        # and those jobs then run again (at-least-once, see docs/guarantees.md).
        conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
        if not durable:
            # Then workers wait for the write lock themselves, in short steps
            # (_begin_write): SQLite's handler sleeps 1, 2, 5, 10... ms between looks,
            # ages next to another worker's 0.1 ms transaction. In WAL mode their reads
            # never wait; a new file's WAL switch is waited out by _patiently.
            conn.execute("PRAGMA busy_timeout = 0")
    except sqlite3.Error as err:
        raise translate_error(err, path) from None
    return conn


def translate_error(err: sqlite3.Error, path: str) -> StoreError:
    text = str(err)
    if isinstance(err, sqlite3.DataError | sqlite3.IntegrityError) or "too big" in text:
        # SQLITE_TOOBIG, a constraint: the same write would be refused again.
        return StoreRefused(f"database {path} refused the write: {text}")
    if "not a database" in text or "malformed" in text:
        return StoreError(f"{path} is not a SQLite database (or it is damaged)")
    if "locked" in text or "busy" in text:
        return StoreError(
            f"database {path} is locked: another process held it for over {busy_timeout_s():g}s"
        )
    if "unable to open" in text or "readonly" in text or "disk I/O" in text:
        return StoreError(f"cannot open database {path}: {_why_unwritable(path) or text}")
    return StoreError(f"database error on {path}: {text}")


def _why_unwritable(path: str) -> str | None:
    """What SQLite's vague "unable to open" or "disk I/O error" means, when the file
    system tells: it is mounted read-only, or full, or we may not write there (a reader
    of a WAL database needs to write its -shm file, so each stops every command)."""
    parent = os.path.dirname(os.path.abspath(path))
    try:
        fs = os.statvfs(parent)
    except OSError:
        return None
    if fs.f_flag & os.ST_RDONLY:
        return "its file system is read-only"
    if fs.f_bavail == 0:
        return "the disk is full"
    # Try rather than os.access: that answers for the real user, with root's privileges.
    if os.path.exists(path) and _denied(lambda: os.close(os.open(path, os.O_RDWR))):
        return "no permission to read and write the file"
    probe = os.path.join(parent, f".queuectl-probe-{os.getpid()}")
    if _denied(lambda: os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))):
        if not os.path.exists(path):
            return f"no permission to create files in {parent}"
        return (
            f"no permission to create files in {parent} (SQLite keeps its -wal and -shm "
            "files beside the database)"
        )
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return None


def _denied(attempt: Callable[[], object]) -> bool:
    try:
        attempt()
    except PermissionError:
        return True
    except OSError:
        return False
    return False


def file_identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of the database file, None when it is gone."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino) if info.st_nlink else None

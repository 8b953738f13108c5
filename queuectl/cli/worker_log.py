"""How a worker logs: one line per event, as text for people (local time with the zone
named, colour on a terminal; under journald no timestamps of its own, which journald adds,
and each line's syslog priority, so `journalctl -p warning` finds the warnings) or as JSON
lines for machines, with the event's fields (recording.event_fields); to stderr, or to a
rotated file for a detached worker."""

from __future__ import annotations

import hashlib
import json
import logging
import logging.handlers
import os
import sys
import time
from pathlib import Path
from typing import TextIO

from queuectl.held_log import HeldLines

LOG_FILE_BYTES = 10 * 1024 * 1024  # rotate a detached worker's log at 10 MiB...
LOG_FILE_BACKUPS = 5  # ...keeping five old files
_COLORS = {"WARNING": 33, "ERROR": 31, "CRITICAL": 31, "DEBUG": 2}
_EVENT_COLORS = {"failed": 33, "dead": 31}  # a job's attempt that failed, a job given up on
# The `<N>` prefix journald reads as a line's priority (sd-daemon.h's SD_WARNING etc.).
_PRIORITIES = {"DEBUG": 7, "INFO": 6, "WARNING": 4, "ERROR": 3, "CRITICAL": 2}


def configure(verbosity: int, log_format: str, log_file: Path | None = None) -> None:
    """Set up the root logger: `verbosity` -1 (-q: warnings), 0 (events) or 1 (-v: debug)."""
    level = {-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG)
    handler: logging.Handler
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=LOG_FILE_BYTES, backupCount=LOG_FILE_BACKUPS, encoding="utf-8"
        )
    else:
        handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormat())
    else:
        stream = sys.stderr if log_file is None else None
        journald = _under_journald(stream)
        handler.setFormatter(
            TextFormat(stamped=not journald, color=_is_color_terminal(stream), priority=journald)
        )
    _install(level, handler)


def _install(level: int, handler: logging.Handler) -> None:
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # Our formats read neither where a call was made nor which thread or process made it:
    # skip looking (the logging HOWTO's "Optimization"); a busy worker logs two lines a job.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def style() -> dict[str, object]:
    """How this process logs (its root logger's level and format), for the processes of
    a supervisor to write lines just like it (configure_like); it forwards their lines."""
    root = logging.getLogger()
    found: dict[str, object] = {"level": root.level, "format": "text"}
    for handler in root.handlers:
        if isinstance(handler.formatter, JsonFormat):
            found["format"] = "json"
        elif isinstance(handler.formatter, TextFormat):
            form = handler.formatter
            found.update(stamped=form.stamped, color=form.color, priority=form.priority)
    return found


def configure_like(given: dict[str, object]) -> None:
    """Log to stderr (the supervisor's pipe) in the supervisor's `style`, the lines held
    and written together (held_log.py)."""
    handler = HeldLines(sys.stderr)
    if given.get("format") == "json":
        handler.setFormatter(JsonFormat())
    else:
        stamped, color, priority = (bool(given.get(k)) for k in ("stamped", "color", "priority"))
        handler.setFormatter(TextFormat(stamped=stamped, color=color, priority=priority))
    level = given.get("level")
    _install(level if isinstance(level, int) else logging.INFO, handler)


def forward(lines: str) -> None:
    """Write lines a supervisor's process logged (formatted already) through this
    process's handlers: one log, rotated as one."""
    record = logging.LogRecord("queuectl.worker", logging.INFO, "", 0, lines, None, None)
    record.forwarded = True
    for handler in logging.getLogger().handlers:
        handler.handle(record)


def detached_log_path(url: str) -> Path:
    """One log file per database, under $XDG_STATE_HOME/queuectl/ (~/.local/state/...),
    named from the database itself (database_identity), not from how `--db` spelled it."""
    from platformdirs import user_state_path

    from queuectl.store.opening import database_identity

    identity = database_identity(url)
    digest = hashlib.sha256(identity.encode()).hexdigest()[:10]
    stem = Path(identity.split("?", 1)[0].rstrip("/")).name or "db"
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in stem)[:40]
    return user_state_path("queuectl") / f"worker-{safe}-{digest}.log"


class TextFormat(logging.Formatter):
    """`2026-11-23 12:03:05.123 CET INFO message`; each second formatted only once (a busy
    worker writes two lines per job, and strftime was a tenth of its time). Under journald
    (`priority`, not `stamped`): `<6>INFO message`."""

    def __init__(self, stamped: bool, color: bool, priority: bool = False) -> None:
        super().__init__()
        self.stamped = stamped
        self.color = color
        self.priority = priority
        self._second = -1
        self._text = ""

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "forwarded", False):
            return str(record.msg)
        level = record.levelname
        message = record.getMessage()
        if self.color:
            if level in _COLORS:
                level = f"\x1b[{_COLORS[level]}m{level}\x1b[0m"
            event = getattr(record, "fields", {}).get("event")
            if event in _EVENT_COLORS:
                message = f"\x1b[{_EVENT_COLORS[event]}m{message}\x1b[0m"
        line = f"{level} {message}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if self.priority:
            return f"<{_PRIORITIES.get(record.levelname, 6)}>{line}"
        if not self.stamped:
            return line
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._text = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
            self._zone = time.strftime("%Z", time.localtime(second))
        return f"{self._text}.{int(record.msecs):03d} {self._zone} {line}"


class JsonFormat(logging.Formatter):
    """One JSON object per line: time (ISO 8601 UTC), level, logger, message, and a job
    event's fields (`event`, `job`, `attempt`, `queue`, `exit_code`, `duration_s`)."""

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "forwarded", False):
            return str(record.msg)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        entry = {
            "time": f"{stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _under_journald(stream: TextIO | None) -> bool:
    """systemd sets JOURNAL_STREAM to the device:inode of the stream it reads; journald
    stamps every line itself, so ours would be printed twice."""
    if stream is None:
        return False
    expected = os.environ.get("JOURNAL_STREAM", "")
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError):
        return False
    return expected == f"{info.st_dev}:{info.st_ino}"


def _is_color_terminal(stream: TextIO | None) -> bool:
    if stream is None or "NO_COLOR" in os.environ:
        return False
    try:
        return stream.isatty()
    except ValueError:
        return False

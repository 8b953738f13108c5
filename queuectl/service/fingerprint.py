"""How a dead job failed, as one fingerprint: the kind of its error, its exit code, and
the last non-empty line of its last attempt's stderr with what varies from run to run
(numbers, hex ids, uuids, paths, times) replaced by placeholders. Jobs that failed the
same way share a fingerprint though each printed its own id, file or time.

The rules are written here once: the DLQ groups of the API, the dashboard and
`dlq groups` all come from `fingerprint` (queuectl/service/observe.py groups them)."""

from __future__ import annotations

import hashlib
import json
import re

import msgspec

from queuectl.models import Attempt, Job

MAX_LINE = 300  # characters of the normalised line kept: enough to tell errors apart

# Order matters: a path swallows the ids and times inside it, a uuid or a time must be
# replaced before its digits become numbers, and a hex id before its digits do.
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?<![\w.~/-])(?:\.{1,2}|~)?(?:/[^\s'\"`:,;()\[\]{}<>]+)+/?"), "<path>"),
    (
        re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I),
        "<uuid>",
    ),
    (
        re.compile(
            r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?)?"
            r"(?:Z|[+-]\d{2}:?\d{2}|\b)"
        ),
        "<time>",
    ),
    (re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?\b"), "<time>"),
    (re.compile(r"\b0x[0-9a-f]+\b", re.I), "<hex>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{6,}\b", re.I), "<hex>"),
    (re.compile(r"(?<![A-Za-z0-9<])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?", re.I), "<n>"),
    (re.compile(r"\s+"), " "),
)


def normalise(line: str) -> str:
    """`line` with numbers, hex ids, uuids, paths and times replaced by <n>, <hex>,
    <uuid>, <path> and <time>, runs of spaces made one, cut to MAX_LINE characters."""
    for pattern, placeholder in _RULES:
        line = pattern.sub(placeholder, line)
    return line.strip()[:MAX_LINE]


def last_line(stderr: bytes) -> str:
    """The last line of `stderr` that holds more than spaces ("" when none)."""
    text = stderr.decode("utf-8", errors="replace")
    for line in reversed(text.splitlines()):
        if line.strip():
            return line.strip()
    return ""


def error_kind(error: str | None) -> str:
    """What kind of failure an attempt's error text names (the worker writes them:
    queuectl/runner.py, spawn.py, service/leases.py)."""
    if error is None:
        return "none"
    for prefix, kind in _KINDS:
        if error.startswith(prefix):
            return kind
    return "other"


_KINDS = (
    ("exit code", "exit"),
    ("command not found", "exit"),
    ("command not executable", "exit"),
    ("killed by", "signal"),
    ("timeout after", "timeout"),
    ("cannot start", "start"),
    ("worker lost", "lost"),
    ("output too large", "output"),
)


class Fingerprint(msgspec.Struct, frozen=True):
    """How a job failed: `kind` of error, `exit_code`, and the normalised last line of
    stderr (`line`, "" when it printed none). `key` names it in URLs and requests."""

    kind: str
    exit_code: int | None
    line: str

    @property
    def key(self) -> str:
        text = json.dumps([self.kind, self.exit_code, self.line])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def fingerprint(job: Job, attempt: Attempt | None) -> Fingerprint:
    """The fingerprint of `job`'s failure; `attempt` is its last attempt (None when it has
    none: the job's own last error and exit code speak for it)."""
    error = job.last_error if attempt is None or attempt.error is None else attempt.error
    exit_code = job.exit_code if attempt is None else attempt.exit_code
    line = normalise(last_line(attempt.stderr)) if attempt is not None else ""
    return Fingerprint(error_kind(error), exit_code, line)

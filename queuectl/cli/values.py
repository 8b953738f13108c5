"""Option values as the command line reads them, without Click: the one place each rule
lives, used by the Click option types (jobs.py, params.py, app.py) and by the fast path
(fast.py). Each raises ValueError with the message Click shows after "Invalid value"."""

from __future__ import annotations

import math
from typing import Any

# --limit: 0 (all) to this many; this many when not given.
MAX_LIMIT = 2**31
DEFAULT_LIMIT = 100


def non_negative(kind: type, value: Any) -> Any:
    """A number >= 0 of `kind` (int or float); Click's own number types allow negatives."""
    name = "integer" if kind is int else "number"
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a valid {name}") from None
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite {name}")
    if number < 0:
        raise ValueError(f"{value!r} must not be negative")
    return number


def limit(value: int) -> int:
    """A count of jobs for --limit: 0 (all) to MAX_LIMIT."""
    if not 0 <= value <= MAX_LIMIT:
        raise ValueError(f"must be a whole number from 0 (all) to {MAX_LIMIT}")
    return value


def run_at(value: str) -> str:
    """A moment as a person types it (timefmt.parse_run_at; no offset = this machine's
    local time), as the ISO 8601 UTC text a job spec's `run_at` holds."""
    import time

    from queuectl.errors import InvalidSpec
    from queuectl.spec import LATEST_TIME
    from queuectl.timefmt import iso, parse_run_at

    try:
        moment = parse_run_at(value, time.time())
    except InvalidSpec as err:
        raise ValueError(str(err)) from None
    if not 0 <= moment <= LATEST_TIME:
        raise ValueError(f"must fall in 1970-9999: {value!r}")
    return iso(moment)

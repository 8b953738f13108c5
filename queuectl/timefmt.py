"""Times in and out: ISO 8601 (naive = UTC) and short durations such as `7d`."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import overload

from queuectl.errors import InvalidSpec

# `90`, `1.5h`, `1h30m`, `2d12h`: numbers each followed by a unit (a lone number = seconds).
_DURATION = re.compile(r"\s*(?:\d+(?:\.\d+)?|(?:\d+(?:\.\d+)?(?:ms|[smhdw])\s*)+)\s*")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|[smhdw]?)")
MAX_DURATION_S = 100 * 365 * 86_400
_UNIT_SECONDS = {"": 1, "ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(text: str) -> float:
    """Parse ISO 8601 into epoch seconds; a time without an offset is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidSpec(f"not an ISO 8601 time: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_duration(text: str) -> float:
    """Parse `90`, `90s`, `500ms`, `15m`, `1h30m`, `7d` or `1w` into seconds: the one
    parser behind every duration option (`--delay`, `--timeout`, `--older-than`)."""
    if not _DURATION.fullmatch(text):
        raise InvalidSpec(f"not a duration (try 30s, 15m, 1h30m, 7d): {text!r}")
    seconds = sum(
        float(number) * _UNIT_SECONDS[unit] for number, unit in _PART.findall(text.strip())
    )
    if seconds > MAX_DURATION_S:  # both backends can subtract it from now
        raise InvalidSpec(f"duration too long (at most 100 years): {text!r}")
    return seconds


@overload
def iso(ts: float) -> str: ...
@overload
def iso(ts: float | None) -> str | None: ...
def iso(ts: float | None) -> str | None:
    """Format epoch seconds as ISO 8601 UTC with milliseconds, e.g. 2026-01-02T03:04:05.678Z."""
    if ts is None:
        return None
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

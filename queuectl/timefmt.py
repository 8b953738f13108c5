"""Times in and out: ISO 8601 (naive = UTC) in specs and the API, the forms a person types
after `--run-at` (naive = local), short durations such as `7d`, and the compact way the
command line prints a time or a span (`in 2h 15m`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
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


# --- What a person types after --run-at -------------------------------------------------

# English whatever the locale: `mon` and `monday` both name Monday (weekday 0).
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_WORDS = {word: n for n, name in enumerate(_DAYS) for word in (name, name[:3])}
# `20:00`, `9:30:15`, `9pm`, `9:30am`: a colon or am/pm makes a number a clock time.
_CLOCK = re.compile(r"(\d{1,2})(?::(\d{2})(?::(\d{2}))?(?=$|am|pm)|(?=am|pm))(am|pm)?")
_BRACKET_ZONE = re.compile(r"(.*?)\s*\[([^\[\]]+)\]")
RUN_AT_FORMS = (
    '20:00 (the next one), "tomorrow 09:00", "mon 09:00", 2026-12-06T20:00, '
    '"2026-12-06 20:00 Asia/Tokyo", 2026-12-06T20:00+09:00 or "in 2h"'
)


def parse_run_at(text: str, now: float, zone: tzinfo | None = None) -> float:
    """Read the moment a person means on the command line, as epoch seconds: an ISO 8601
    time (without an offset: in `zone`), a clock time (`20:00`, `9pm`: the next one), a day
    word with an optional clock time (`tomorrow 09:00`, `mon`: the next one, from 00:00),
    `now` or `in DURATION`; any of them may end with a zone name, `Asia/Tokyo` or
    `[Asia/Tokyo]`. `zone=None` is the machine's local zone (TZ); `now` is passed in so
    "the next 20:00" never depends on a clock read here."""
    words, named = _named_zone(text.strip())
    zone = named or zone
    lowered = words.lower()
    if lowered == "now":
        return now
    if lowered.startswith("in "):
        return now + parse_duration(lowered[3:])
    moment = _next_day_and_clock(lowered, now, zone)
    if moment is None:
        moment = _iso(words, zone, named is not None, text)
    return moment


def _named_zone(words: str) -> tuple[str, tzinfo | None]:
    """`words` without the zone name it ends with (`[Asia/Tokyo]`, ` Asia/Tokyo`, ` UTC`),
    and that zone."""
    bracketed = _BRACKET_ZONE.fullmatch(words)
    if bracketed:
        return bracketed.group(1), _zone(bracketed.group(2))
    head, _, last = words.rpartition(" ")
    if head and ("/" in last or last.upper() == "UTC"):
        return head.strip(), _zone(last)
    return words, None


def _zone(name: str) -> tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidSpec(f"unknown time zone: {name.strip()!r}") from None


def _iso(words: str, zone: tzinfo | None, zone_named: bool, text: str) -> float:
    try:
        moment = datetime.fromisoformat(words.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidSpec(f"not a time: {text.strip()!r} (try {RUN_AT_FORMS})") from None
    if moment.tzinfo is None:
        return _local(moment, zone)
    if zone_named and moment.utcoffset() != moment.astimezone(zone).utcoffset():
        raise InvalidSpec(f"the offset and the zone disagree: {text.strip()!r}")
    return moment.timestamp()


def _local(moment: datetime, zone: tzinfo | None) -> float:
    """A wall-clock time in `zone` (None: the local zone, read by the C library)."""
    return moment.timestamp() if zone is None else moment.replace(tzinfo=zone).timestamp()


def _next_day_and_clock(words: str, now: float, zone: tzinfo | None) -> float | None:
    """`20:00`, `tomorrow 09:00`, `today 18:00`, `mon`, `friday 9am`: the first moment after
    `now` that fits (`today`/`tomorrow` name one day); None when `words` is none of these."""
    day, _, rest = words.partition(" ")
    if day not in _DAY_WORDS and day not in ("today", "tomorrow"):
        day, rest = "", words
    clock = _clock(rest.strip()) if rest.strip() else (0, 0, 0) if day else None
    if clock is None:
        return None
    today = datetime.fromtimestamp(now, zone).date()
    named = {"today": 0, "tomorrow": 1}
    if day in named:  # that day, even if the time has passed (then it is due at once)
        date = today + timedelta(days=named[day])
        return _local(datetime(date.year, date.month, date.day, *clock), zone)
    for ahead in range(8):  # a week and a day: every weekday, and the clock's next day
        date = today + timedelta(days=ahead)
        if day and date.weekday() != _DAY_WORDS[day]:
            continue
        moment = _local(datetime(date.year, date.month, date.day, *clock), zone)
        if moment > now:
            return moment
    raise AssertionError("unreachable: every weekday comes within a week")


def _clock(text: str) -> tuple[int, int, int] | None:
    found = _CLOCK.fullmatch(text.replace(" ", ""))
    if not found:
        return None
    hour, minute, second = (int(part or 0) for part in found.group(1, 2, 3))
    if found.group(4):  # 12am = 0:00, 12pm = 12:00
        if not 1 <= hour <= 12:
            raise InvalidSpec(f"not a clock time: {text!r}")
        hour = hour % 12 + (12 if found.group(4) == "pm" else 0)
    if hour > 23 or minute > 59 or second > 59:
        raise InvalidSpec(f"not a clock time: {text!r}")
    return hour, minute, second


# --- Times and durations as the command line prints them --------------------------------


def relative(seconds: float) -> str:
    """A span from now, compactly, the one way the command line prints one: `in 2h 15m`,
    `3m ago`, `in 45s`, `now`. Two units at most, the smaller one rounded."""
    size = round(abs(seconds))
    if size == 0:
        return "now"
    parts = []
    for unit, width, below in (("d", 86_400, 3600), ("h", 3600, 60), ("m", 60, 1)):
        rounded = round(size / below) * below  # to the second unit shown: 86399s is 1d
        if rounded >= width:
            parts = [f"{rounded // width}{unit}", f"{rounded % width // below}{_BELOW[unit]}"]
            break
    else:
        parts = [f"{size}s"]
    text = " ".join(part for part in parts if not part.startswith("0"))
    return f"in {text}" if seconds > 0 else f"{text} ago"


_BELOW = {"d": "h", "h": "m", "m": "s"}


def stamp(ts: float) -> str:
    """A local time that names its zone, e.g. `2026-12-06 20:00:00 JST` (or `+09:00` where
    the zone has no abbreviation): how `show` prints every time."""
    moment = datetime.fromtimestamp(ts).astimezone()
    name = moment.strftime("%Z")
    if not name or name[0] in "+-":
        offset = moment.strftime("%z")
        name = f"{offset[:3]}:{offset[3:]}"
    return moment.strftime("%Y-%m-%d %H:%M:%S ") + name

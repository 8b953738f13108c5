"""Durations: one parser for every option that takes one (`--older-than 7d`, ...). Times
typed after --run-at, read against a fixed "now" in a given zone (no clock is read), and
the one compact way a span from now is printed."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from queuectl.errors import InvalidSpec
from queuectl.timefmt import parse_duration, parse_run_at, relative


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90),
        ("90s", 90),
        ("500ms", 0.5),
        ("15m", 900),
        ("1.5h", 5400),
        ("1h30m", 5400),
        ("1h 30m", 5400),
        ("2d12h", 216_000),
        ("1w", 604_800),
        (" 7d ", 604_800),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "h", "1x", "1h30", "-1s", "1hh", "7d\nx", "1e3s"])
def test_not_durations_are_one_line_errors(text: str) -> None:
    with pytest.raises(InvalidSpec) as raised:
        parse_duration(text)
    assert "\n" not in str(raised.value)


def test_too_long_a_duration_is_refused() -> None:
    with pytest.raises(InvalidSpec, match="too long"):
        parse_duration("200000w")


TOKYO = ZoneInfo("Asia/Tokyo")
# Sunday 2026-12-06, 21:41:30 in Tokyo (12:41:30 UTC): "now" for every parse below.
NOW = datetime(2026, 12, 6, 21, 41, 30, tzinfo=TOKYO).timestamp()


def tokyo(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> float:
    return datetime(year, month, day, hour, minute, second, tzinfo=TOKYO).timestamp()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # ISO 8601 without an offset: the caller's zone (here Tokyo), not UTC.
        ("2026-12-06T20:00", tokyo(2026, 12, 6, 20, 0)),
        ("2026-12-06 20:00:15", tokyo(2026, 12, 6, 20, 0, 15)),
        ("2026-12-24", tokyo(2026, 12, 24, 0, 0)),
        # With an offset or a zone name, that one.
        ("2026-12-06T20:00Z", tokyo(2026, 12, 7, 5, 0)),
        ("2026-12-06T20:00+01:00", tokyo(2026, 12, 7, 4, 0)),
        ("2026-12-06T20:00 UTC", tokyo(2026, 12, 7, 5, 0)),
        ("2026-12-06 20:00 Europe/Paris", tokyo(2026, 12, 7, 4, 0)),
        ("2026-12-06T20:00[America/New_York]", tokyo(2026, 12, 7, 10, 0)),
        ("2026-12-06T20:00+09:00[Asia/Tokyo]", tokyo(2026, 12, 6, 20, 0)),
        # A clock time: the next one (today if still ahead, else tomorrow).
        ("23:00", tokyo(2026, 12, 6, 23, 0)),
        ("20:00", tokyo(2026, 12, 7, 20, 0)),
        ("21:41:30", tokyo(2026, 12, 7, 21, 41, 30)),  # now is not ahead
        ("9pm", tokyo(2026, 12, 7, 21, 0)),
        ("11:30 pm", tokyo(2026, 12, 6, 23, 30)),
        ("12am", tokyo(2026, 12, 7, 0, 0)),
        ("12pm", tokyo(2026, 12, 7, 12, 0)),
        ("20:00 Europe/Paris", tokyo(2026, 12, 7, 4, 0)),  # 20:00 in Paris is still ahead
        # today / tomorrow name one day; a day alone is its start.
        ("tomorrow 09:00", tokyo(2026, 12, 7, 9, 0)),
        ("Tomorrow", tokyo(2026, 12, 7, 0, 0)),
        ("today 08:00", tokyo(2026, 12, 6, 8, 0)),  # past: due at once
        ("tomorrow 9am Asia/Tokyo", tokyo(2026, 12, 7, 9, 0)),
        # A weekday: the next one whose time is still ahead.
        ("mon 09:00", tokyo(2026, 12, 7, 9, 0)),
        ("monday", tokyo(2026, 12, 7, 0, 0)),
        ("fri 18:30", tokyo(2026, 12, 11, 18, 30)),
        ("sun 22:00", tokyo(2026, 12, 6, 22, 0)),  # later today
        ("sunday 21:00", tokyo(2026, 12, 13, 21, 0)),  # earlier today: next week
        ("sun", tokyo(2026, 12, 13, 0, 0)),
        # Now and a span from now.
        ("now", NOW),
        ("in 2h", NOW + 7200),
        ("in 1h30m", NOW + 5400),
    ],
)
def test_run_at_forms(text: str, expected: float) -> None:
    assert parse_run_at(text, NOW, TOKYO) == expected


def test_a_clock_time_across_a_daylight_saving_change_is_that_wall_clock_time() -> None:
    paris = ZoneInfo("Europe/Paris")
    saturday = datetime(2026, 3, 28, 12, 0, tzinfo=paris).timestamp()  # CET, UTC+1
    assert parse_run_at("sun 09:00", saturday, paris) == (
        datetime(2026, 3, 29, 9, 0, tzinfo=paris).timestamp()  # CEST, UTC+2
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-12-06T20:00 Asia/Tokio", "unknown time zone: 'Asia/Tokio'"),
        ("20:00[Mars/Olympus]", "unknown time zone: 'Mars/Olympus'"),
        ("2026-12-06T20:00+01:00[Asia/Tokyo]", "the offset and the zone disagree"),
        ("25:00", "not a clock time: '25:00'"),
        ("tomorrow 13pm", "not a clock time"),
        ("mon 9:60", "not a clock time"),
        ("next blursday", "not a time: 'next blursday' (try 20:00"),
        ("20", "not a time: '20'"),
        ("", "not a time"),
        ("in forever", "not a duration"),
        ("tomorrow\n09:00", "not a"),
    ],
)
def test_bad_run_at_is_a_one_line_error_naming_it(text: str, message: str) -> None:
    with pytest.raises(InvalidSpec) as raised:
        parse_run_at(text, NOW, TOKYO)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (45, "in 45s"),
        (59.6, "in 1m"),
        (125, "in 2m 5s"),
        (3600, "in 1h"),
        (7199, "in 2h"),  # never "in 7199s"
        (8100, "in 2h 15m"),
        (8130, "in 2h 16m"),
        (90_061, "in 1d 1h"),
        (86_399, "in 1d"),  # not "in 24h"
        (3599.5, "in 1h"),
        (-180, "3m ago"),
        (-5, "5s ago"),
        (0.4, "now"),
        (-86_400 * 400, "400d ago"),
    ],
)
def test_spans_are_shown_compactly(seconds: float, shown: str) -> None:
    assert relative(seconds) == shown


def test_the_worker_log_prints_a_retry_delay_compactly() -> None:
    from queuectl.models import Job, JobState, RunResult
    from queuectl.recording import failure_text

    job = Job("j", "false", "default", JobState.FAILED, 0, 1, 3, None, NOW, NOW, NOW)
    text = failure_text(job, RunResult(1, "exit 1"), JobState.FAILED, 7199.4)
    assert text == "failed (exit 1), retry 1/3 in 2h,"

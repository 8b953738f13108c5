"""Times on the command line, run with the caller in Tokyo and in UTC: `--run-at` without
an offset is the caller's local time (a JSON spec's `run_at` stays UTC), clock times and
day words mean the next such moment, a zone name is honoured and a bad one refused before
anything is enqueued; `show` names the zone of every time, and spans print as `in 2h 15m`."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.cli.conftest import Put, Run, StoredIds


@pytest.fixture(params=["Asia/Tokyo", "UTC"])
def local_zone(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ZoneInfo]:
    """The caller's zone (TZ) for the test, the process's own restored after it."""
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield ZoneInfo(request.param)
    monkeypatch.undo()
    time.tzset()


def run_at_of(run: Run, job_id: str) -> datetime:
    text = run("show", job_id, "--json").ok().json()["run_at"]
    return datetime.fromisoformat(text)


def test_run_at_without_an_offset_is_local_time(run: Run, local_zone: ZoneInfo) -> None:
    run("enqueue", "--id", "t", "--run-at", "2031-05-06T20:00", "--", "true").ok()
    expected = datetime(2031, 5, 6, 20, 0, tzinfo=local_zone)
    assert run_at_of(run, "t") == expected  # Tokyo: 11:00Z; UTC: 20:00Z


def test_a_spec_run_at_without_an_offset_stays_utc(run: Run, local_zone: ZoneInfo) -> None:
    run("enqueue", '{"id":"s","command":"true","run_at":"2031-05-06T20:00"}').ok()
    assert run_at_of(run, "s") == datetime(2031, 5, 6, 20, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text", ["2031-05-06 20:00 Asia/Tokyo", "2031-05-06T20:00[Asia/Tokyo]", "2031-05-06T11:00Z"]
)
def test_a_named_zone_or_offset_wins_over_the_local_zone(
    run: Run, local_zone: ZoneInfo, text: str
) -> None:
    run("enqueue", "--id", "z", "--run-at", text, "--", "true").ok()
    assert run_at_of(run, "z") == datetime(2031, 5, 6, 11, 0, tzinfo=UTC)


def _next(local_zone: ZoneInfo, hour: int, days: int = 0) -> datetime:
    """The next local `hour`:00 at least `days` days from today (today's if still ahead)."""
    now = datetime.now(local_zone)
    moment = datetime.combine(now.date() + timedelta(days=days), datetime.min.time(), local_zone)
    moment = moment.replace(hour=hour)
    return moment if moment > now else moment + timedelta(days=1)


def test_a_clock_time_is_the_next_one(run: Run, local_zone: ZoneInfo) -> None:
    before = _next(local_zone, 20)
    run("enqueue", "--id", "c", "--run-at", "20:00", "--", "true").ok()
    assert run_at_of(run, "c") in (before, _next(local_zone, 20))  # 20:00 may pass meanwhile


def test_tomorrow_and_a_weekday(run: Run, local_zone: ZoneInfo) -> None:
    today = datetime.now(local_zone).date()
    run("enqueue", "--id", "tm", "--run-at", "tomorrow 09:00", "--", "true").ok()
    tomorrow = datetime.now(local_zone).date() + timedelta(days=1)
    assert run_at_of(run, "tm") in {
        datetime.combine(day, datetime.min.time(), local_zone).replace(hour=9)
        for day in (today + timedelta(days=1), tomorrow)
    }
    run("enqueue", "--id", "wd", "--run-at", "mon 09:00", "--", "true").ok()
    monday = run_at_of(run, "wd").astimezone(local_zone)
    assert (monday.weekday(), monday.hour, monday.minute) == (0, 9, 0)
    assert timedelta(0) < monday - datetime.now(local_zone) <= timedelta(days=7)


@pytest.mark.before_store
@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("2031-05-06T20:00 Asia/Tokio", "unknown time zone: 'Asia/Tokio'"),
        ("2031-05-06T20:00[Nowhere/Land]", "unknown time zone: 'Nowhere/Land'"),
        ("next blursday", "not a time: 'next blursday'"),
        ("25:00", "not a clock time"),
    ],
)
def test_a_bad_run_at_is_one_line_exit_2_and_enqueues_nothing(
    run: Run, stored_ids: StoredIds, text: str, fragment: str
) -> None:
    result = run("enqueue", "--id", "bad", "--run-at", text, "--", "true")
    result.error("--run-at", fragment, code=2)
    assert result.stdout == ""
    assert stored_ids() == []


def test_show_names_the_zone_of_every_time(run: Run, put: Put, local_zone: ZoneInfo) -> None:
    put("done", "completed")
    run("enqueue", "--id", "later", "--delay", "2h15m", "--", "true").ok()
    abbreviation = "JST" if local_zone.key == "Asia/Tokyo" else "UTC"
    for job_id in ("done", "later"):
        out = run("show", job_id).ok().stdout
        times = re.findall(r"^(?:\w+_at:|  started) .*$", out, flags=re.MULTILINE)
        stamps = re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (\S+) \(", out)
        assert times and len(stamps) >= len(times), out
        assert set(stamps) == {abbreviation}, out
    shown = run("show", "later").ok().stdout
    assert re.search(r"^run_at: +\S+ \S+ \w+ \(in 2h 15m\)$", shown, flags=re.MULTILINE), shown
    assert re.search(r"^created_at: +.* \((now|\d+s ago)\)$", shown, flags=re.MULTILINE), shown


def test_tables_show_a_near_run_at_compactly(run: Run, local_zone: ZoneInfo) -> None:
    run("enqueue", "--id", "soon", "--delay", "2h15m", "--", "true").ok()
    listing = run("list").ok().stdout
    assert "  in 2h 15m  " in listing  # the span alone: no zone to name
    assert not re.search(r"in \d+s", listing)
    assert "RUN AT  " in listing
    wide = run("list", "--wide").ok().stdout
    assert "(in 2h 15m)" in wide
    assert re.search(rf"RUN AT \({'JST' if local_zone.key == 'Asia/Tokyo' else 'UTC'}\)", wide)


def test_update_reschedules_with_run_at_or_delay(run: Run, local_zone: ZoneInfo) -> None:
    run("enqueue", "--id", "u", "--", "true").ok()
    run("update", '{"id":"u"}', "--run-at", "2031-05-06T20:00").ok()
    assert run_at_of(run, "u") == datetime(2031, 5, 6, 20, 0, tzinfo=local_zone)
    before = time.time()
    run("update", '{"id":"u","priority":3}', "--delay", "2h").ok()
    due = run_at_of(run, "u").timestamp()
    assert before + 7200 - 1 <= due <= time.time() + 7200 + 1
    assert run("show", "u", "--json").ok().json()["priority"] == 3


def test_update_with_a_bad_run_at_changes_nothing(run: Run, local_zone: ZoneInfo) -> None:
    run("enqueue", "--id", "u", "--run-at", "2031-05-06T20:00", "--", "true").ok()
    run("update", '{"id":"u"}', "--run-at", "Asia/Tokio 20:00").error("--run-at", code=2)
    run("update", '{"id":"u"}', "--run-at", "20:00", "--delay", "1m").error("not both", code=2)
    assert run_at_of(run, "u") == datetime(2031, 5, 6, 20, 0, tzinfo=local_zone)

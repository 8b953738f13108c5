"""The schedule rules (queuectl/schedules.py): due times, daylight-saving days, catch-up."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from queuectl import schedules
from queuectl.errors import InvalidSpec
from queuectl.schedules import CatchUp, Schedule

PARIS = ZoneInfo("Europe/Paris")


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()


def cron(expr: str, tz: str = "UTC") -> Schedule:
    return Schedule("s", {"command": "true"}, 0.0, 0.0, cron=expr, tz=tz)


def test_a_cron_time_is_read_in_its_zone() -> None:
    nightly = cron("0 2 * * *", tz="Europe/Paris")
    assert schedules.next_after(nightly, at(2026, 12, 6, 12)) == at(2026, 12, 7, 1)  # 02:00+01


def test_a_time_skipped_by_the_spring_change_runs_once() -> None:
    """02:30 does not exist on 2026-03-29 in Paris: the run comes at 03:00, once."""
    job = cron("30 2 * * *", tz="Europe/Paris")
    first = schedules.next_after(job, at(2026, 3, 28, 12))
    times = schedules.upcoming(Schedule("s", {}, first, 0.0, cron=job.cron, tz=job.tz), 3)
    local = [datetime.fromtimestamp(t, PARIS).strftime("%m-%d %H:%M") for t in times]
    assert local == ["03-29 03:00", "03-30 02:30", "03-31 02:30"]


def test_a_time_repeated_by_the_autumn_change_runs_once() -> None:
    """02:30 happens twice on 2026-10-25 in Paris: the run comes the first time only."""
    job = cron("30 2 * * *", tz="Europe/Paris")
    first = schedules.next_after(job, at(2026, 10, 24, 12))
    times = schedules.upcoming(Schedule("s", {}, first, 0.0, cron=job.cron, tz=job.tz), 2)
    assert times[0] == at(2026, 10, 25, 0, 30)  # 02:30+02:00
    assert times[1] - times[0] == 25 * 3600  # the next day's 02:30+01:00: the day is 25 h


def test_an_interval_counts_from_when_the_schedule_was_made() -> None:
    every = Schedule("s", {}, 0.0, 100.0, every=15.0)
    assert schedules.next_after(every, 100.0) == 115.0
    assert schedules.next_after(every, 131.0) == 145.0


@pytest.mark.parametrize(
    ("catch_up", "interval", "now", "runs", "skipped"),
    [
        (CatchUp.LATEST, 10.0, 135.0, [130.0], 3),
        (CatchUp.ALL, 10.0, 135.0, [100.0, 110.0, 120.0, 130.0], 0),
        (CatchUp.NONE, 10.0, 135.0, [130.0], 3),  # the latest is on time (5 s late)
        (CatchUp.NONE, 120.0, 410.0, [], 3),  # 100, 220, 340: all over a minute late
        (CatchUp.LATEST, 10.0, 99.0, [], 0),
    ],
)
def test_runs_missed_while_no_worker_ran_follow_catch_up(
    catch_up: CatchUp, interval: float, now: float, runs: list[float], skipped: int
) -> None:
    every = Schedule("s", {}, 100.0, 100.0 - interval, every=interval, catch_up=catch_up)
    due, next_due, missed = schedules.due_runs(every, now)
    assert (due, missed) == (runs, skipped)
    assert next_due > now


def test_a_run_id_names_the_schedule_and_its_due_time() -> None:
    assert schedules.run_id("nightly", at(2026, 12, 7, 1)) == "nightly@2026-12-07T01:00:00Z"


@pytest.mark.parametrize(
    ("cron_expr", "every", "tz", "error"),
    [
        ("0 2 * *", None, "UTC", "invalid cron expression"),
        ("0 2 * * * *", None, "UTC", "five fields"),
        (None, None, "UTC", "a cron expression or an interval"),
        ("0 2 * * *", 60.0, "UTC", "a cron expression or an interval"),
        (None, 0.5, "UTC", "1s to 3660 days"),
        (None, 1.5e190, "UTC", "1s to 3660 days"),  # its next run would have no date
        ("0 2 * * *", None, "Mars/Olympus", "unknown time zone"),
    ],
)
def test_bad_timings_are_refused(
    cron_expr: str | None, every: float | None, tz: str, error: str
) -> None:
    with pytest.raises(InvalidSpec, match=error):
        schedules.check_timing(cron_expr, every, tz)


def test_words_for_the_timing() -> None:
    assert schedules.describe(cron("0 2 * * 1-5", tz="Europe/Paris")) == (
        "At 02:00 AM, Monday through Friday (Europe/Paris)"
    )
    assert schedules.describe(Schedule("s", {}, 0.0, 0.0, every=900.0)) == "every 15m"

"""Schedules: jobs enqueued on a cron expression or at a fixed interval. The rules,
written once; queuectl/service/schedules.py reads and writes them in the store.

A schedule is a store record (kind "schedule") holding its job spec and its timing. Any
worker supervisor (and `queuectl serve`) looks about once a second for schedules whose
`next_due` has come, enqueues their runs and moves `next_due` on with a compare-and-set
of the record. A run's job id is the schedule's name and its due time
(`nightly@2026-12-07T02:00:00Z`), unique in the store, so however many hosts see the same
due time, exactly one job is enqueued for it. There is no leader to elect or lose.

Times follow cronsim, which keeps Debian cron's rules on daylight-saving days: a daily
time skipped when clocks go forward runs once, when they do (02:30 runs at 03:00); a
time repeated when clocks go back runs once, the first time.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from queuectl.errors import InvalidSpec

KIND = "schedule"  # the store records' kind
MAX_NAME = 100
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")
MIN_EVERY = 1.0  # seconds
MAX_EVERY = 3660 * 86400.0  # about ten years: a longer interval's next run has no date
ON_TIME = 60.0  # a run this late is still run with catch-up "none"
MAX_CATCH_UP = 1000  # runs enqueued at once with catch-up "all"


class CatchUp(StrEnum):
    """What to do with runs missed while no worker ran: run only the `latest`, `all` of
    them (at most MAX_CATCH_UP), or `none` (those more than ON_TIME late are skipped)."""

    LATEST = "latest"
    ALL = "all"
    NONE = "none"


class Schedule(msgspec.Struct, frozen=True, omit_defaults=True):
    """A schedule as stored. `spec` is the job spec of each run (every field but `id`,
    `run_at` and `delay`); exactly one of `cron` and `every` (seconds) is set."""

    name: str
    spec: dict[str, Any]
    next_due: float  # epoch seconds: the first due time not yet enqueued
    created_at: float
    cron: str | None = None
    every: float | None = None
    tz: str = "UTC"
    catch_up: CatchUp = CatchUp.LATEST
    no_overlap: bool = False
    paused: bool = False
    last_due: float | None = None  # the due time of the latest run enqueued
    last_job: str | None = None  # its job id
    skipped: int = 0  # due runs skipped (no_overlap, catch-up)
    last_skipped_at: float | None = None


_decoder = msgspec.json.Decoder(Schedule)


def decode(text: str) -> Schedule:
    return _decoder.decode(text)


def encode(schedule: Schedule) -> str:
    return msgspec.json.encode(schedule).decode()


def check_name(name: str) -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidSpec(
            f"invalid schedule name {name!r}: a letter or digit, then letters, digits and "
            f"._:- (at most {MAX_NAME} characters)",
            field="name",
        )


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        message = f"unknown time zone {name!r} (try Europe/Paris or UTC)"
        raise InvalidSpec(message, field="tz") from None


def check_timing(cron: str | None, every: float | None, tz: str) -> None:
    """Exactly one of a cron expression (five fields, as crontab) and an interval."""
    if (cron is None) == (every is None):
        message = "give a cron expression or an interval (every), one of them"
        raise InvalidSpec(message, field="cron")
    zone(tz)
    if every is not None and not MIN_EVERY <= every <= MAX_EVERY:
        raise InvalidSpec(
            f"the interval must be {MIN_EVERY:g}s to {MAX_EVERY / 86400:g} days", field="every"
        )
    if cron is not None:
        from cronsim import CronSim, CronSimError

        try:
            CronSim(cron, datetime.now(UTC))
        except CronSimError as err:
            raise InvalidSpec(f"invalid cron expression {cron!r}: {err}", field="cron") from None
        if len(cron.split()) != 5:
            raise InvalidSpec(
                f"invalid cron expression {cron!r}: five fields (minute hour day month weekday)",
                field="cron",
            )


def next_after(schedule: Schedule, after: float) -> float:
    """The first due time strictly after `after` (epoch seconds)."""
    if schedule.every is not None:
        start = schedule.created_at
        if after < start:
            return start
        steps = int((after - start) // schedule.every) + 1
        return start + steps * schedule.every
    from cronsim import CronSim

    assert schedule.cron is not None
    moment = datetime.fromtimestamp(after, zone(schedule.tz))
    return next(iter(CronSim(schedule.cron, moment))).timestamp()


def upcoming(schedule: Schedule, count: int) -> list[float]:
    """The next `count` due times from `next_due` on."""
    times = [schedule.next_due]
    while len(times) < count:
        times.append(next_after(schedule, times[-1]))
    return times


def due_runs(schedule: Schedule, now: float) -> tuple[list[float], float, int]:
    """At `now`: the due times to enqueue, the next due time after them, and how many due
    times are skipped (catch-up)."""
    due: list[float] = []
    at = schedule.next_due
    while at <= now and len(due) < MAX_CATCH_UP + 1:
        due.append(at)
        at = next_after(schedule, at)
    if at <= now:  # more missed than MAX_CATCH_UP: jump to now
        at = next_after(schedule, now)
    if not due:
        return [], at, 0
    if schedule.catch_up is CatchUp.ALL:
        kept = due[-MAX_CATCH_UP:]
    elif schedule.catch_up is CatchUp.LATEST:
        kept = due[-1:]
    else:
        kept = [t for t in due[-1:] if now - t <= ON_TIME]
    return kept, at, len(due) - len(kept)


def run_id(name: str, due: float) -> str:
    """The job id of a schedule's run: its name and due time, to the second, in UTC."""
    stamp = datetime.fromtimestamp(due, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{name}@{stamp}"


def describe(schedule: Schedule) -> str:
    """The timing in words: `At 02:00 AM, Monday through Friday (Europe/Paris)`."""
    if schedule.every is not None:
        from queuectl.timefmt import relative

        return f"every {relative(schedule.every).removeprefix('in ')}"
    from cron_descriptor import get_description

    assert schedule.cron is not None
    return f"{get_description(schedule.cron)} ({schedule.tz})"

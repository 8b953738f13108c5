"""Schedules as users manage them (add, list, pause, resume, remove, run now) and the
check every worker supervisor makes about once a second (`run_due`); the rules are
queuectl/schedules.py's."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from queuectl import schedules
from queuectl.errors import Conflict, DuplicateJob, InvalidSpec, NotFound, UniqueKeyTaken
from queuectl.models import FINAL_STATES, Job, JobQuery
from queuectl.schedules import KIND, CatchUp, Schedule
from queuectl.service.common import configured_max_retries
from queuectl.service.enqueue import spec_with_overrides
from queuectl.store import Store
from queuectl.timefmt import iso

# Spec fields a schedule's runs do not take from it: each run's id and time are its own.
OWN_FIELDS = ("id", "run_at", "delay")


class ScheduleView(msgspec.Struct, frozen=True):
    """A schedule as shown: its stored fields, its timing in words, its next due times
    and its latest run's state."""

    schedule: Schedule
    words: str
    upcoming: list[float]
    last_state: str | None


def add(
    store: Store,
    name: str,
    spec: Mapping[str, Any],
    *,
    cron: str | None = None,
    every: float | None = None,
    tz: str = "UTC",
    catch_up: CatchUp = CatchUp.LATEST,
    no_overlap: bool = False,
) -> Schedule:
    """Store a new schedule (Conflict when the name is taken); its first run is the first
    due time from now."""
    schedules.check_name(name)
    schedules.check_timing(cron, every, tz)
    own = [field for field in OWN_FIELDS if spec.get(field) is not None]
    if own:
        raise InvalidSpec(
            f"a schedule's runs set their own {own[0]}: leave `{own[0]}` out of its spec",
            field=own[0],
        )
    fields = {k: v for k, v in spec.items() if k not in OWN_FIELDS}
    spec_with_overrides(fields, {})  # the spec must make a valid job
    now = store.now()
    draft = Schedule(name, fields, now, now, cron, every, tz, catch_up, no_overlap)
    schedule = msgspec.structs.replace(draft, next_due=schedules.next_after(draft, now))
    if store.put_record(KIND, name, schedules.encode(schedule), None) is None:
        raise Conflict(f"a schedule named {name!r} exists already")
    return schedule


def get(store: Store, name: str) -> Schedule:
    record = store.get_records(KIND).get(name)
    if record is None:
        raise NotFound(f"no schedule named {name!r}")
    return schedules.decode(record.value)


def view(store: Store, schedule: Schedule, upcoming: int = 3) -> ScheduleView:
    """A schedule with its timing in words, its next due times, its latest run's state."""
    last = store.get_job(schedule.last_job) if schedule.last_job else None
    return ScheduleView(
        schedule,
        schedules.describe(schedule),
        schedules.upcoming(schedule, upcoming),
        None if last is None else last.state.value,
    )


def list_all(store: Store) -> list[ScheduleView]:
    """Every schedule, by name, with its next 3 due times and its latest run's state."""
    return [view(store, schedules.decode(r.value)) for r in store.get_records(KIND).values()]


def runs(store: Store, name: str, limit: int = 20) -> list[Job]:
    """The schedule's latest runs, newest first (jobs whose id starts with `name@`)."""
    get(store, name)
    return store.query_jobs(JobQuery(id_prefix=f"{name}@", limit=limit), None, limit)


def set_paused(store: Store, name: str, paused: bool) -> Schedule:
    """Pause (no run enqueued) or resume; a resumed schedule's next run is the first due
    time from now (missed ones follow its catch-up rule)."""
    return _change(store, name, lambda s: msgspec.structs.replace(s, paused=paused))


def remove(store: Store, name: str) -> None:
    if not store.delete_record(KIND, name):
        raise NotFound(f"no schedule named {name!r}")


def run_now(store: Store, name: str) -> str:
    """One run now, beside the schedule's own (its id is the schedule's name, the time to
    the millisecond, and `-now`)."""
    schedule = get(store, name)
    job_id = f"{name}@{iso(store.now())}-now"  # to the millisecond: two runs a second
    job = spec_with_overrides({**schedule.spec, "id": job_id}, {})
    store.enqueue_jobs([job], configured_max_retries(store))
    return job_id


def run_due(store: Store) -> list[str]:
    """Enqueue every due run of every schedule (a worker's check, about once a second);
    returns the ids enqueued here. Safe on any number of hosts at once: a run's id is
    unique, and a schedule moves on only from the version its checker read."""
    enqueued: list[str] = []
    now = store.now()
    retries: int | None = None  # the configured default, read once, when a run is due
    for name, record in store.get_records(KIND).items():
        schedule = schedules.decode(record.value)
        if schedule.paused or schedule.next_due > now:
            continue
        due, next_due, skipped = schedules.due_runs(schedule, now)
        if schedule.no_overlap and due and _still_running(store, schedule.last_job):
            due, skipped = [], skipped + len(due)
        made = []
        for at in due:
            job_id = schedules.run_id(name, at)
            job = spec_with_overrides({**schedule.spec, "id": job_id}, {})
            if retries is None:
                retries = configured_max_retries(store)
            try:
                store.enqueue_jobs([job], retries)
                enqueued.append(job_id)
            except DuplicateJob:
                pass  # another host enqueued this run first
            except UniqueKeyTaken:
                skipped += 1  # its unique key's job still waits or runs: no second one
                continue
            made.append((at, job_id))
        moved = msgspec.structs.replace(
            schedule,
            next_due=next_due,
            last_due=made[-1][0] if made else schedule.last_due,
            last_job=made[-1][1] if made else schedule.last_job,
            skipped=schedule.skipped + skipped,
            last_skipped_at=now if skipped else schedule.last_skipped_at,
        )
        store.put_record(KIND, name, schedules.encode(moved), record.version)
    return enqueued


def _still_running(store: Store, job_id: str | None) -> bool:
    job = None if job_id is None else store.get_job(job_id)
    return job is not None and job.state not in FINAL_STATES


def _change(store: Store, name: str, change: Callable[[Schedule], Schedule]) -> Schedule:
    for _ in range(10):
        record = store.get_records(KIND).get(name)
        if record is None:
            raise NotFound(f"no schedule named {name!r}")
        schedule = change(schedules.decode(record.value))
        if not schedule.paused and schedule.next_due < store.now():
            due, next_due, _ = schedules.due_runs(schedule, store.now())
            if not due:
                schedule = msgspec.structs.replace(schedule, next_due=next_due)
        if store.put_record(KIND, name, schedules.encode(schedule), record.version):
            return schedule
    raise Conflict(f"schedule {name!r} kept changing; try again")

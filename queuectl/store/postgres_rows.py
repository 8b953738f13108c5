"""PostgreSQL rows (dicts) as queuectl's values."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from queuectl.models import AfterMode, Attempt, Job, JobState, StopMode, WorkerInfo
from queuectl.store.postgres_connect import Row


def fields(cls: type[msgspec.Struct], row: Row) -> dict[str, Any]:
    """The row's columns that model `cls` has, as plain values: datetimes become epoch
    seconds, arrays tuples."""
    values = {}
    for name in cls.__struct_fields__:
        if name in row:
            value = row[name]
            if isinstance(value, datetime):
                value = value.timestamp()
            elif isinstance(value, list):
                value = tuple(value)
            values[name] = value
    return values


def job(row: Row) -> Job:
    values = fields(Job, row)
    mode = values.get("after_mode")
    return Job(
        **{
            **values,
            "state": JobState(values["state"]),
            "after_mode": None if mode is None else AfterMode(mode),
        }
    )


def attempt(row: Row) -> Attempt:
    return Attempt(**fields(Attempt, row))


def worker(row: Row) -> WorkerInfo:
    values = fields(WorkerInfo, row)
    stop = values.get("stop_requested")
    return WorkerInfo(**{**values, "stop_requested": None if stop is None else StopMode(stop)})

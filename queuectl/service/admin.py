"""The database itself (ping, migrate) and the demo's sample jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from queuectl.models import JobQuery, JobState, NewJob
from queuectl.service.paging import list_jobs
from queuectl.spec import spec_from_mapping, to_new_job

if TYPE_CHECKING:
    from queuectl.models import Job
    from queuectl.store.base import Store


class Migration(msgspec.Struct, frozen=True):
    version: int  # the schema version now
    applied: list[int]  # what this run applied (empty: it was up to date)


def ping(store: Store) -> str:
    """A short description of the database (backend, version, where) once it answered."""
    return store.ping()


def durability_warning(store: Store) -> str | None:
    """One line when jobs the database acknowledged would not survive its crash or
    restart (a Redis server that does not fsync every write), else None."""
    return store.durability_warning()


def migrate(url: str | None) -> Migration:
    """Create or upgrade the schema at `url`, reporting what was applied (opening a
    store normally migrates silently)."""
    from queuectl.store import open_store

    store = open_store(url, migrate=False)
    try:
        applied = store.migrate()
        return Migration(version=store.schema_version(), applied=applied)
    finally:
        store.close()


DEMO_QUEUE = "queuectl-demo"
DEMO_JOBS: list[dict[str, Any]] = [
    {"id": "demo-hello", "command": "echo 'hello from queuectl'"},
    {"id": "demo-sleep", "command": "sleep 1 && echo 'slept 1s'", "priority": 5},
    {"id": "demo-count", "command": "for i in 1 2 3; do echo step $i; done"},
    {"id": "demo-fail", "command": "echo 'about to fail' >&2; exit 3", "max_retries": 2},
    {"id": "demo-timeout", "command": "sleep 30", "timeout": 0.5, "max_retries": 0},
]


def demo_jobs(suffix: str = "") -> list[NewJob]:
    """The demo's five jobs in its own queue; `suffix` keeps ids apart in a shared db."""
    specs = [{**job, "id": job["id"] + suffix, "queue": DEMO_QUEUE} for job in DEMO_JOBS]
    return [to_new_job(spec_from_mapping(spec)) for spec in specs]


def demo_results(store: Store) -> tuple[list[Job], list[Job]]:
    """The demo queue's jobs and its dead ones, newest first."""
    every = list_jobs(store, JobQuery(queue=DEMO_QUEUE, limit=0), max_limit=None).jobs
    dead = [job for job in every if job.state is JobState.DEAD]
    return every, dead

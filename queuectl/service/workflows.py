"""Workflows as the front ends show them: the jobs a job runs after and those after it."""

from __future__ import annotations

import msgspec

from queuectl.store import Store


class Linked(msgspec.Struct, frozen=True):
    """A job linked to another, with its state (None: deleted since)."""

    id: str
    state: str | None


class Links(msgspec.Struct, frozen=True):
    after: list[Linked]
    dependents: list[Linked]


def job_links(store: Store, job_id: str) -> Links:
    """The jobs `job_id` runs after and those that run after it, each with its state."""
    found = store.job_links([job_id]).get(job_id)
    if found is None:
        return Links([], [])
    ids = [*found.after, *found.dependents]
    jobs = {job.id: job for job in map(store.get_job, ids) if job is not None}

    def linked(job_id: str) -> Linked:
        job = jobs.get(job_id)
        return Linked(job_id, None if job is None else job.state.value)

    return Links([linked(i) for i in found.after], [linked(i) for i in found.dependents])

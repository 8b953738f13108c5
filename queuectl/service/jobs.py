"""Operations on jobs that exist: look them up, cancel, requeue, delete, purge, edit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from queuectl import rules
from queuectl.errors import InvalidSpec, InvalidStateChange, JobNotFound
from queuectl.models import Attempt, Job, JobChanges, JobQuery, JobState, Requeued
from queuectl.service.common import configured_max_retries, parse_state
from queuectl.spec import check_job_id, load_json, spec_from_mapping, to_new_job

if TYPE_CHECKING:
    from queuectl.store.base import Store

PURGEABLE = (JobState.COMPLETED, JobState.DEAD, JobState.CANCELLED)


def get_job(store: Store, job_id: str) -> Job:
    job = store.get_job(job_id)
    if job is None:
        raise JobNotFound(f"no job with id {job_id!r}")
    return job


def job_details(store: Store, job_id: str) -> tuple[Job, list[Attempt]]:
    return get_job(store, job_id), store.list_attempts(job_id)


def last_attempt(store: Store, job_id: str, number: int | None = None) -> Attempt:
    """The latest attempt (or attempt `number`, its latest run) of a job that has run."""
    attempts = job_details(store, job_id)[1]
    if number is not None:
        attempts = [a for a in attempts if a.attempt == number]
    if not attempts:
        which = f"no attempt {number}" if number is not None else "not run yet"
        raise JobNotFound(f"job {job_id!r} has {which}")
    return attempts[-1]


def cancel(store: Store, job_ids: Sequence[str]) -> dict[str, JobState]:
    """Cancel the jobs in one store transaction: a missing or finished one cancels none."""
    return store.cancel_jobs(list(dict.fromkeys(job_ids)))


# The states `retry --state` and `cancel --state` take, in the rulebook's terms (a running
# job's cancel is a request its worker carries out).
REQUEUEABLE = tuple(state for state in JobState if state in rules.REQUEUABLE)
CANCELLABLE = tuple(
    state for state in JobState if state in rules.CANCELLABLE_AT_ONCE or state is rules.PROCESSING
)


def ids_in_states(
    store: Store, states: Sequence[JobState], allowed: Sequence[JobState], queue: str | None
) -> list[str]:
    """The ids of every job in `states` (of `queue`, if given), for the commands that act
    on many jobs at once (`retry --state`, `cancel --state`); each state must be allowed."""
    for state in states:
        if state not in allowed:
            names = ", ".join(s.value for s in allowed)
            raise InvalidSpec(f"not for {state.value} jobs (only {names})", field="state")
    query = JobQuery(states=tuple(states or allowed), queue=queue, order="oldest", limit=0)
    return [job.id for job in store.query_jobs(query, None, None)]


def requeue(store: Store, job_ids: Sequence[str]) -> Requeued:
    """Run finished (or failed) jobs again from scratch: pending, attempts reset. All or
    none; Conflict for a job that is waiting or running."""
    if not job_ids:
        raise InvalidSpec("no job ids given", field="ids")
    return store.requeue_jobs(list(dict.fromkeys(job_ids)), configured_max_retries(store))


def delete(store: Store, job_ids: Sequence[str]) -> int:
    """Delete finished jobs and their attempts. All or none; Conflict for one not finished."""
    if not job_ids:
        raise InvalidSpec("no job ids given", field="ids")
    return store.delete_jobs(list(dict.fromkeys(job_ids)))


def purge(store: Store, states: Sequence[JobState], older_than: float | None) -> int:
    for state in states:
        if state not in PURGEABLE:
            allowed = ", ".join(s.value for s in PURGEABLE)
            raise InvalidSpec(f"cannot purge {state.value} jobs (only {allowed})", field="state")
    if older_than is not None and older_than < 0:
        raise InvalidSpec("older_than must not be negative", field="older_than")
    return store.purge_jobs(states, older_than)


_UPDATE_FIELDS = {"id", "command", "queue", "priority", "max_retries", "timeout", "run_at", "state"}


def update(store: Store, text: str, overrides: dict[str, object] | None = None) -> Job:
    """Edit a job that is not running from a JSON object with its `id` and new fields;
    `overrides` (command-line options) replace the object's fields."""
    data = load_json(text)
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise InvalidSpec('update needs a JSON object with the job\'s "id"', field="id")
    data.update(overrides or {})
    unknown = set(data) - _UPDATE_FIELDS
    if unknown:
        raise InvalidSpec(
            f"cannot update field(s): {', '.join(sorted(unknown))}", field=sorted(unknown)[0]
        )
    job_id = data.pop("id")
    check_job_id(job_id)
    fields: dict[str, object] = {}
    requeue = False
    if "state" in data:
        state = parse_state(str(data.pop("state")))
        if state is not JobState.PENDING:
            raise InvalidSpec(
                f'update can only set "state" to "pending" (requeue), not "{state}"',
                field="state",
            )
        requeue = True
    if data:
        # Validate the new values with the same rules as a new job's spec.
        current = get_job(store, job_id)
        probe = to_new_job(spec_from_mapping({"command": current.command, "id": job_id, **data}))
        fields = {name: getattr(probe, name) for name in data}
    if not fields and not requeue:
        raise InvalidSpec("nothing to update: give at least one field besides id")
    return store.update_job(job_id, JobChanges(**fields, requeue=requeue))  # type: ignore[arg-type]


def run_now(store: Store, job_id: str) -> Job:
    """Make a waiting job (pending or failed) due now, by the store's clock: an update of
    its run_at. Conflict for a job in another state."""
    job = get_job(store, job_id)
    if job.state not in (JobState.PENDING, JobState.FAILED):
        raise InvalidStateChange(f"job {job_id!r} is {job.state.value}, not waiting to run")
    return store.update_job(job_id, JobChanges(run_at=store.now()))

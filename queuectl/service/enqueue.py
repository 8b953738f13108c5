"""Adding jobs: one spec with option overrides, or many from JSON lines / a JSON array."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from queuectl.errors import DuplicateJob, InvalidSpec
from queuectl.models import NewJob, OnDuplicate
from queuectl.service.common import DEFAULT_MAX_RETRIES, configured_max_retries
from queuectl.spec import load_json, spec_from_mapping, to_new_job
from queuectl.spec_lines import parse_job_lines
from queuectl.timefmt import iso

if TYPE_CHECKING:
    from queuectl.store.base import Store


# gc=False: as NewJob's (queuectl.models), never part of a cycle.
class Enqueued(msgspec.Struct, frozen=True, gc=False):
    """What an enqueue did with one job: added it (`id` is its own), or, as a duplicate
    of the job holding its unique key, answered with that job's `id` (`replaced`: the
    holder took its spec). `note` is one line for the user on a duplicate."""

    id: str
    duplicate: bool = False
    replaced: bool = False
    note: str | None = None


def enqueue(store: Store, jobs: Sequence[NewJob]) -> list[str]:
    """Store validated jobs in one transaction: all of them or, on any error, none. A
    duplicate of a held unique key gets the id its on_duplicate answers with."""
    return [answer.id for answer in enqueue_answers(store, jobs)]


def enqueue_answers(
    store: Store, jobs: Sequence[NewJob], where: Sequence[str] | None = None
) -> list[Enqueued]:
    """enqueue, saying of each job whether it was added or a duplicate of the job that
    holds its unique key (queuectl.service.unique decides)."""
    if not jobs:
        raise InvalidSpec("no jobs to enqueue")
    own = all(job.max_retries is not None for job in jobs)  # then no config read needed
    default = DEFAULT_MAX_RETRIES if own else configured_max_retries(store)
    if all(job.unique_key is None for job in jobs):
        return [Enqueued(job_id) for job_id in store.enqueue_jobs(jobs, default)]
    from queuectl.service.unique import enqueue_answers as unique_answers

    return unique_answers(store, jobs, default, where)


def enqueue_located(store: Store, located: Sequence[tuple[str, NewJob]]) -> list[str]:
    """Bulk enqueue of parsed input: a duplicate id is reported with its line (or item)."""
    return [answer.id for answer in enqueue_located_answers(store, located)]


def enqueue_located_answers(store: Store, located: Sequence[tuple[str, NewJob]]) -> list[Enqueued]:
    """enqueue_located, with each job's answer (enqueue_answers)."""
    try:
        return enqueue_answers(store, [job for _, job in located], [w for w, _ in located])
    except DuplicateJob as err:
        where = next((w for w, job in located if job.id == err.job_id), None)
        if where is None:
            raise
        raise DuplicateJob(err.job_id, f"{where}: {err}") from None


def read_spec(text: str) -> dict[str, Any]:
    """One JSON object, not yet validated (options may still override its fields)."""
    data = load_json(text)
    if not isinstance(data, dict):
        raise InvalidSpec('a job spec must be a JSON object, e.g. \'{"command": "echo hi"}\'')
    return data


def spec_with_overrides(
    spec: dict[str, Any], overrides: dict[str, Any], defaults: dict[str, Any] | None = None
) -> NewJob:
    """Merge option values (already typed; None = not given) over a parsed JSON spec, and
    the spec over `defaults`, then validate once. `run_at` and `delay` replace each other;
    an `env` option adds to the spec's variables."""
    merged = {**(defaults or {}), **spec}
    merged.update({k: v for k, v in overrides.items() if v is not None})
    if overrides.get("env") is not None and isinstance(spec.get("env"), dict):
        merged["env"] = {**spec["env"], **overrides["env"]}
    if overrides.get("run_at") is not None:
        merged.pop("delay", None)
    if overrides.get("delay") is not None:
        merged.pop("run_at", None)
    return to_new_job(spec_from_mapping(merged))


def parse_bulk(text: str) -> list[NewJob]:
    """Many specs: JSON lines or one JSON array; an error names the line (or item)."""
    return [job for _, job in parse_located(text)]


def enqueue_bulk(
    store: Store,
    text: str,
    overrides: dict[str, Any] | None = None,
    cwd: str | None = None,
) -> list[str]:
    """Parse many specs and enqueue them all or none; errors, a duplicate id included,
    name the line (or array item). `overrides` and `cwd` as in parse_located."""
    return enqueue_located(store, parse_located(text, overrides, cwd))


def enqueue_bulk_answers(
    store: Store,
    text: str,
    overrides: dict[str, Any] | None = None,
    cwd: str | None = None,
) -> list[Enqueued]:
    """enqueue_bulk, with each job's answer (enqueue_answers)."""
    return enqueue_located_answers(store, parse_located(text, overrides, cwd))


def parse_located(
    text: str, overrides: dict[str, Any] | None = None, cwd: str | None = None
) -> list[tuple[str, NewJob]]:
    """Many specs as (where, job) pairs, `where` being "line 3" or "item 2". `overrides`
    (option values, None = not given) apply to each spec, as in spec_with_overrides;
    `cwd` is the directory of the specs that name none."""
    located = parse_job_lines(text, cwd)
    if overrides and any(v is not None for v in overrides.values()):
        located = [(w, spec_with_overrides(_as_spec(job), overrides)) for w, job in located]
    return located


def spec_fields(job: NewJob) -> dict[str, Any]:
    """A validated job's spec fields but its id (what a schedule keeps of each run)."""
    fields = _as_spec(job)
    fields.pop("id", None)
    return fields


def _as_spec(job: NewJob) -> dict[str, Any]:
    """A validated NewJob back as spec fields, so options can override them."""
    fields: dict[str, Any] = {
        "id": job.id,
        "command": job.command,
        "queue": job.queue,
        "priority": job.priority,
        "max_retries": job.max_retries,
        "timeout": job.timeout,
        "delay": job.delay or None,
        "keep_daemons": job.keep_daemons or None,
        "cwd": job.cwd,
        "env": job.env,
        "after": list(job.after) or None,
        "after_mode": job.after_mode.value if job.after else None,
        "unique_key": job.unique_key,
        "on_duplicate": None
        if job.on_duplicate is OnDuplicate.EXISTING
        else job.on_duplicate.value,
    }
    if job.run_at is not None:
        fields["run_at"] = iso(job.run_at)
    return {k: v for k, v in fields.items() if v is not None}

"""Unique jobs: what an enqueue does when a job's unique key is already held.

A job with a `unique_key` holds it while it waits or runs (pending, failed awaiting its
retry, processing: queuectl.rules.HOLDS_UNIQUE_KEY). The store guards that at most one job
holds a key (an enqueue that would add a second raises UniqueKeyTaken, in the same
transaction as the insert); this module decides, once for the CLI and the API, what a
duplicate gets, by the job's `on_duplicate`:

- "existing" (the default): nothing is added; the answer is the holder's id.
- "error": the enqueue is refused (UniqueKeyTaken, a Conflict), naming the holder.
- "replace": the holder, while it waits, takes the new job's spec and run time and keeps
  its id (a burst of `--delay 30s` enqueues runs the last one, 30 s after the burst); a
  holder already running is answered as with "existing", with a note.

In a batch, a later job with the key of an earlier one is its duplicate (with
"replace", the earlier job takes the later spec). Errors are all or nothing: every
duplicate is decided before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import msgspec

from queuectl import rules
from queuectl.errors import StoreError, UniqueKeyTaken
from queuectl.models import Job, JobState, NewJob, OnDuplicate
from queuectl.service.enqueue import Enqueued

if TYPE_CHECKING:
    from queuectl.store.base import Store

MAX_ROUNDS = 10  # a key whose holder keeps changing meanwhile is decided again


def enqueue_answers(
    store: Store,
    jobs: Sequence[NewJob],
    default_max_retries: int,
    where: Sequence[str] | None = None,
) -> list[Enqueued]:
    """Enqueue `jobs`, deciding each duplicate of a held unique key by its on_duplicate;
    one answer per job, in order. `where` names each job in errors ("line 3")."""
    places = list(where) if where is not None else [""] * len(jobs)
    batch = list(jobs)
    answers: list[Enqueued | None] = [None] * len(batch)
    _within_batch(batch, answers, places)
    for _ in range(MAX_ROUNDS):
        todo = [i for i, answer in enumerate(answers) if answer is None]
        if not todo:
            break
        keys = [k for i in todo if (k := batch[i].unique_key) is not None]
        holders = store.unique_holders(keys) if keys else {}
        held = store.get_jobs(list(set(holders.values()))) if holders else {}
        inserts, replaces = [], []
        for i in todo:
            job = batch[i]
            holder = holders.get(job.unique_key or "")
            if holder is None:
                inserts.append(i)
            elif job.on_duplicate is OnDuplicate.ERROR:
                raise _refused(job, holder, held.get(holder), places[i])
            elif job.on_duplicate is OnDuplicate.REPLACE:
                replaces.append((i, holder))
            else:
                answers[i] = _existing(job, holder, held.get(holder), places[i])
        if inserts:
            try:
                store.enqueue_jobs([batch[i] for i in inserts], default_max_retries)
            except UniqueKeyTaken:
                continue  # a key taken since the read: decide again (nothing was added)
            for i in inserts:
                answers[i] = Enqueued(batch[i].id)
        for i, holder in replaces:
            answers[i] = _replace(store, batch[i], holder, default_max_retries, places[i])
    if any(answer is None for answer in answers):
        raise StoreError("unique keys kept changing while enqueueing; try again")
    return [answer for answer in answers if answer is not None]


def _within_batch(batch: list[NewJob], answers: list[Enqueued | None], places: list[str]) -> None:
    """A later job with the unique key of an earlier one in the same batch is its
    duplicate: answered with the earlier job (replace: the earlier one takes its spec)."""
    first: dict[str, int] = {}
    for i, job in enumerate(batch):
        if job.unique_key is None:
            continue
        j = first.setdefault(job.unique_key, i)
        if j == i:
            continue
        earlier = batch[j]
        if job.on_duplicate is OnDuplicate.ERROR:
            raise UniqueKeyTaken(
                job.id,
                job.unique_key,
                earlier.id,
                f"{_at(places[i])}unique key {job.unique_key!r} is already taken by job "
                f"{earlier.id!r} ({places[j] or 'earlier'} of this batch); nothing added",
            )
        if job.on_duplicate is OnDuplicate.REPLACE:
            batch[j] = msgspec.structs.replace(job, id=earlier.id)
            note = f"{_at(places[i])}replaced job {earlier.id} of unique key {job.unique_key!r}"
            answers[i] = Enqueued(earlier.id, duplicate=True, replaced=True, note=note)
        else:
            note = f"{_at(places[i])}duplicate: unique key {job.unique_key!r} is held by job "
            answers[i] = Enqueued(earlier.id, duplicate=True, note=f"{note}{earlier.id}")


def _replace(
    store: Store, job: NewJob, holder: str, default_max_retries: int, where: str
) -> Enqueued | None:
    """Put `job` in place of the waiting holder; a running holder is answered as is;
    None when the holder no longer holds the key (enqueue `job` in the next round)."""
    run_at = job.run_at
    if run_at is None and job.delay:
        run_at = store.now() + job.delay
    current = store.replace_waiting_job(holder, job, run_at, default_max_retries)
    if current is None:
        return None
    key = job.unique_key
    if current.state is JobState.PROCESSING:
        note = f"{_at(where)}job {holder} of unique key {key!r} is running: not replaced"
        note += "; nothing added"
        return Enqueued(holder, duplicate=True, note=note)
    note = f"{_at(where)}replaced the waiting job {holder} of unique key {key!r}; nothing added"
    return Enqueued(holder, duplicate=True, replaced=True, note=note)


def _existing(job: NewJob, holder: str, current: Job | None, where: str) -> Enqueued:
    note = f"{_at(where)}duplicate: unique key {job.unique_key!r} is held by "
    note += f"{_how(current)}job {holder}; nothing added"
    return Enqueued(holder, duplicate=True, note=note)


def _refused(job: NewJob, holder: str, current: Job | None, where: str) -> UniqueKeyTaken:
    return UniqueKeyTaken(
        job.id,
        job.unique_key or "",
        holder,
        f"{_at(where)}unique key {job.unique_key!r} is held by {_how(current)}job "
        f"{holder!r}; nothing added",
    )


def _how(job: Job | None) -> str:
    """The holder's state as a word and a space ("waiting ", "running "), if known."""
    if job is None or job.state not in rules.HOLDS_UNIQUE_KEY:
        return ""
    return "running " if job.state is JobState.PROCESSING else "waiting "


def _at(where: str) -> str:
    return f"{where}: " if where else ""

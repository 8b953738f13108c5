"""Workflows on `memory://`: queuectl.workflow's rules applied job by job, under the lock.

What sql_after.py does with set-based statements, this does with `workflow.outcome` on
each job after the one that moved, so the conformance suite compares the databases'
statements with the rules' own words.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from msgspec.structs import replace

from queuectl import rules, workflow
from queuectl.models import FINAL_STATES, AfterMode, Job, JobLinks, JobState, NewJob
from queuectl.store.memory_data import Database

Move = Callable[[Job, Job, float], None]  # MemoryStore._move: store a job, count its move


def add_jobs(db: Database, new: Sequence[NewJob], jobs: list[Job]) -> list[Job]:
    """The new jobs (`jobs`, as stored without links) with their blockers, mode and
    dependents, their links recorded and the dependents of existing jobs counted;
    InvalidSpec (nothing changed) as workflow.blockers_at_enqueue says."""
    outside = workflow.check_graph(new)
    found = {i: db.jobs[i].state for i in outside if i in db.jobs}
    blockers, dependents = workflow.blockers_at_enqueue(new, found)
    linked = [
        replace(
            job,
            after_mode=spec.after_mode if spec.after else None,
            blockers=blocking,
            dependents=dependents.pop(job.id, 0),
        )
        for spec, job, blocking in zip(new, jobs, blockers, strict=True)
    ]
    for parent, n in dependents.items():
        db.jobs[parent] = replace(db.jobs[parent], dependents=db.jobs[parent].dependents + n)
    for spec in new:
        if spec.after:
            db.after[spec.id] = tuple(spec.after)
            for parent in spec.after:
                db.dependents.setdefault(parent, []).append(spec.id)
    return linked


def release(db: Database, ended: Sequence[tuple[str, JobState]], now: float, move: Move) -> None:
    """After jobs ended: count down or cancel (down the graph) the pending jobs after them."""
    frontier = list(ended)
    while frontier:
        parent, state = frontier.pop(0)
        for child_id in db.dependents.get(parent, []):
            child = db.jobs.get(child_id)
            if child is None or child.state is not JobState.PENDING or child.after_mode is None:
                continue
            seen = workflow.outcome(state, child.after_mode)
            if seen is workflow.Outcome.MET and child.blockers > 0:
                db.jobs[child_id] = replace(child, blockers=child.blockers - 1)
            elif seen is workflow.Outcome.NEVER:
                cancelled = replace(
                    child,
                    state=JobState.CANCELLED,
                    blockers=0,
                    updated_at=now,
                    cancel_requested=False,
                    cancelled_by=parent,
                    last_error=workflow.cancel_note(parent, state),
                )
                move(child, cancelled, now)
                frontier.append((child_id, JobState.CANCELLED))


def reopen(db: Database, ids: Sequence[str], now: float, move: Move) -> list[str]:
    """After jobs were put back to pending from an end: recount what each waits for and
    bring back, down the graph, the jobs cancelled only because of them."""
    for job_id in ids:
        job = db.jobs[job_id]
        if job.after_mode is not None:
            db.jobs[job_id] = replace(job, blockers=_unended(db, job_id), cancelled_by=None)
    back: list[str] = []
    frontier = list(ids)
    while frontier:
        parent = frontier.pop(0)
        for child_id in db.dependents.get(parent, []):
            child = db.jobs.get(child_id)
            if child is None or child.state is not JobState.CANCELLED:
                continue
            if child.cancelled_by != parent or _never(db, child_id, child.after_mode):
                continue
            if child.unique_key is not None and unique_holders(db, [child.unique_key]):
                continue  # its unique key was taken meanwhile: it stays cancelled
            revived = replace(
                child,
                state=JobState.PENDING,
                cancelled_by=None,
                last_error=None,
                exit_code=None,
                attempts=0,
                run_at=now,
                updated_at=now,
                blockers=_unended(db, child_id),
            )
            move(child, revived, now)
            back.append(child_id)
            frontier.append(child_id)
    return back


def unique_holders(db: Database, keys: Sequence[str]) -> dict[str, str]:
    """The waiting or running jobs holding these unique keys, by key (a scan: the
    reference backend states the rule, it is not built for speed)."""
    wanted = set(keys)
    held = {}
    for job in db.jobs.values():
        key = job.unique_key
        if key is not None and key in wanted and job.state in rules.HOLDS_UNIQUE_KEY:
            held[key] = job.id
    return held


def _unended(db: Database, child_id: str) -> int:
    return sum(
        1
        for parent in db.after.get(child_id, ())
        if parent in db.jobs and db.jobs[parent].state not in FINAL_STATES
    )


def _never(db: Database, child_id: str, mode: AfterMode | None) -> bool:
    """Whether a job the child runs after ended as the child's mode never accepts."""
    return mode is not None and any(
        workflow.outcome(db.jobs[parent].state, mode) is workflow.Outcome.NEVER
        for parent in db.after.get(child_id, ())
        if parent in db.jobs
    )


def links(db: Database, job_ids: Sequence[str]) -> dict[str, JobLinks]:
    return {
        job_id: JobLinks(
            tuple(sorted(db.after.get(job_id, ()))), tuple(sorted(db.dependents.get(job_id, [])))
        )
        for job_id in dict.fromkeys(job_ids)
    }


def forget(db: Database, job_id: str) -> None:
    """A deleted job takes its links to the jobs it ran after with it (a link to it from
    a job that stays is kept, shown as deleted)."""
    for parent in db.after.pop(job_id, ()):
        children = db.dependents.get(parent, [])
        if job_id in children:
            children.remove(job_id)
    db.dependents.pop(job_id, None)

"""Workflows: the rules for jobs that run after other jobs, written once.

A job enqueued `after` others stays pending, and blocked, until each of them has ended as
its `after_mode` needs (queuectl.models.AfterMode): "completed" needs them all completed,
"finished" needs them all ended in any way. A store keeps, per job, how many of those it
still waits for (`Job.blockers`) and counts it down in the same transaction (or script)
that ends each of them, so a job becomes claimable exactly once, when the last one ends.
When one ends in a way the job can never accept (dead or cancelled, for "completed"), the
job is cancelled at once, its error naming that job, and so on down the graph. Putting a
job back to pending (a requeue or a DLQ retry) brings back, in the same transaction, the
jobs cancelled only because of it, down the graph.

Every backend applies `outcome` below: the SQL and Lua ones through the lists of modes and
states that `met_modes`, `never_modes` and `never_states` give them, the memory one by
calling it; the conformance suite checks that they agree.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from enum import StrEnum

from queuectl.errors import InvalidSpec
from queuectl.models import FINAL_STATES, AfterMode, JobState, NewJob

MAX_AFTER = 1000  # jobs one job may run after (each is an edge read at every release)


class Outcome(StrEnum):
    """What a job's end means for a job that runs after it."""

    WAITS = "waits"  # not ended yet: the job still waits for it
    MET = "met"  # ended as the job needs: one fewer to wait for
    NEVER = "never"  # ended as the job can never accept: the job is cancelled


def outcome(state: JobState, mode: AfterMode) -> Outcome:
    """How a job in `state` counts for a job after it in `mode`."""
    if state not in FINAL_STATES:
        return Outcome.WAITS
    if state is JobState.COMPLETED or mode is AfterMode.FINISHED:
        return Outcome.MET
    return Outcome.NEVER


def met_modes(state: JobState) -> list[str]:
    """The modes for which a job ending in `state` is met."""
    return [mode.value for mode in AfterMode if outcome(state, mode) is Outcome.MET]


def never_modes(state: JobState) -> list[str]:
    """The modes for which a job ending in `state` cancels the jobs after it."""
    return [mode.value for mode in AfterMode if outcome(state, mode) is Outcome.NEVER]


def never_states(mode: AfterMode) -> list[str]:
    """The states of a job that make a job after it in `mode` never run."""
    return [state.value for state in JobState if outcome(state, mode) is Outcome.NEVER]


def cancel_note(parent_id: str, state: JobState) -> str:
    """The error of a job cancelled because a job it runs after ended as `state`."""
    return f"after {parent_id}{ended_as(state)}"


def ended_as(state: JobState) -> str:
    """The end of cancel_note, which a store appends to the parent's id itself."""
    return ", which was cancelled" if state is JobState.CANCELLED else f", which ended {state}"


# -- enqueueing a graph ----------------------------------------------------------------------


def check_graph(jobs: Sequence[NewJob]) -> list[str]:
    """Check the `after` lists of one enqueue: no job after itself, none listing a job twice
    or more than MAX_AFTER, no cycle among the jobs of the batch (InvalidSpec naming
    them). Returns the ids named that are not in the batch, in first-seen order: the store
    must find them (or refuse the whole enqueue)."""
    graph = [(mine, job) for mine, job in enumerate(jobs) if job.after]
    if not graph:  # a bulk of independent jobs: nothing to check
        return []
    position = {job.id: at for at, job in enumerate(jobs)}
    outside: dict[str, None] = {}
    # Whether some job runs after a job listed later in the batch (or an id is given
    # twice): only then can the batch hold a cycle (if every job comes after all it runs
    # after, the batch's own order is a run order), so only then is the graph walked.
    backward = len(position) != len(jobs)
    for mine, job in graph:
        if len(job.after) > MAX_AFTER:
            raise InvalidSpec(
                f"invalid job spec: job {job.id!r} runs after {len(job.after)} jobs; "
                f"at most {MAX_AFTER}",
                field="after",
            )
        if len(set(job.after)) != len(job.after):
            raise InvalidSpec(
                f"invalid job spec: job {job.id!r} names a job twice in `after`", field="after"
            )
        if job.id in job.after:
            raise InvalidSpec(f"invalid job spec: job {job.id!r} runs after itself", field="after")
        for parent in job.after:
            at = position.get(parent)
            if at is None:
                outside[parent] = None
            elif at > mine:
                backward = True
    cycle = _find_cycle([job for _, job in graph], position.keys()) if backward else []
    if cycle:
        path = " -> ".join([*cycle, cycle[0]])
        raise InvalidSpec(f"invalid job spec: `after` makes a cycle: {path}", field="after")
    return list(outside)


def _find_cycle(jobs: Sequence[NewJob], in_batch: Collection[str]) -> list[str]:
    """A cycle among the batch's jobs (in run order), or [] (an iterative depth-first walk)."""
    parents = {job.id: [p for p in job.after if p in in_batch] for job in jobs if job.after}
    done: set[str] = set()
    for start in parents:
        if start in done:
            continue
        path: list[str] = []
        on_path: set[str] = set()
        stack: list[tuple[str, int]] = [(start, 0)]
        while stack:
            node, index = stack.pop()
            if index == 0:
                path.append(node)
                on_path.add(node)
            nexts = parents.get(node, [])
            if index < len(nexts):
                stack.append((node, index + 1))
                parent = nexts[index]
                if parent in on_path:
                    cycle = path[path.index(parent) :]
                    return list(reversed(cycle))
                if parent not in done:
                    stack.append((parent, 0))
                continue
            on_path.discard(node)
            path.pop()
            done.add(node)
    return []


def blockers_at_enqueue(
    jobs: Sequence[NewJob], found: Mapping[str, JobState]
) -> tuple[list[int], dict[str, int]]:
    """For an enqueue whose `after` ids outside the batch are `found` (id -> state, read in
    the enqueue's transaction): each new job's blockers, in order, and how many new jobs
    run after each job named (new or existing: its dependents grow by that). InvalidSpec names an id
    that does not exist, or an existing job that ended as its new job can never accept."""
    if not any(job.after for job in jobs):  # a bulk of independent jobs
        return [0] * len(jobs), {}
    in_batch = {job.id for job in jobs}
    blockers: list[int] = []
    added: dict[str, int] = {}
    for job in jobs:
        count = 0
        for parent in job.after:
            added[parent] = added.get(parent, 0) + 1
            if parent in in_batch:
                count += 1
                continue
            state = found.get(parent)
            if state is None:
                raise unknown_parent(job.id, parent)
            seen = outcome(state, job.after_mode)
            if seen is Outcome.NEVER:
                raise never_runs(job.id, parent, state)
            count += seen is Outcome.WAITS
        blockers.append(count)
    return blockers, added


def unknown_parent(job_id: str, parent: str) -> InvalidSpec:
    """The error of an enqueue naming, in `after`, a job that does not exist."""
    return InvalidSpec(
        f"invalid job spec: job {job_id!r} runs after {parent!r}, which does not exist",
        field="after",
    )


def never_runs(job_id: str, parent: str, state: JobState) -> InvalidSpec:
    """The error of an enqueue after a job that ended as the new job never accepts."""
    return InvalidSpec(
        f"invalid job spec: job {job_id!r} runs after {parent!r}, which is {state}: it "
        f"would never run (retry {parent!r} first, or give after_mode finished)",
        field="after",
    )

"""Workflows on the SQL backends: what happens to the jobs after a job that ended or came
back, inside the transaction that moved it (queuectl/workflow.py has the rules).

The statements (`release_children`, `cancel_children`, `lock_parents`,
`recount_blockers`, `revive_children`) are each dialect's (PostgreSQL releases in a
function instead: `release_rules` is what it is given); `run(name, params)` executes one
on the caller's transaction and returns the ids of the rows it returned. Lists in `params` are plain
Python lists: the caller encodes them as its dialect binds arrays. Each level of the graph
is one statement per end state (or mode), whatever the number of jobs, so a cancel that
runs down a chain of jobs costs one statement per link, and a finish with jobs after it
one or two.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from queuectl import workflow
from queuectl.models import FINAL_STATES, AfterMode, JobLinks, JobState

Run = Callable[[str, dict[str, Any]], list[str]]
FINAL = sorted(state.value for state in FINAL_STATES)


def release(run: Run, ended: Sequence[tuple[str, JobState]], now: float) -> list[str]:
    """After the jobs `ended` (id, final state) ended: count down the jobs after them whose
    mode that end meets, and cancel, down the graph, those it never can. Returns the ids
    cancelled."""
    cancelled: list[str] = []
    frontier = list(ended)
    while frontier:
        by_state: dict[JobState, list[str]] = {}
        for job_id, state in frontier:
            by_state.setdefault(state, []).append(job_id)
        frontier = []
        for state, ids in by_state.items():
            if modes := workflow.met_modes(state):
                run("release_children", {"ids": ids, "modes": modes})
            if modes := workflow.never_modes(state):
                params = {"ids": ids, "modes": modes, "note": workflow.ended_as(state), "now": now}
                gone = run("cancel_children", params)
                cancelled += gone
                frontier += [(job_id, JobState.CANCELLED) for job_id in gone]
    return cancelled


def reopen(run: Run, ids: Sequence[str], now: float) -> list[str]:
    """After the jobs `ids` were put back to pending from an end: recount what each waits
    for, and bring back, down the graph, the jobs cancelled only because of them. Returns
    the ids brought back."""
    if not ids:
        return []
    run("lock_parents", {"ids": list(ids)})
    run("recount_blockers", {"ids": list(ids), "final": FINAL})
    back: list[str] = []
    frontier = list(ids)
    while frontier:
        found: list[str] = []
        for mode in AfterMode:
            if never := workflow.never_states(mode):
                params = {"ids": frontier, "mode": mode.value, "never": never, "now": now}
                found += run("revive_children", {**params, "final": FINAL})
        back += found
        frontier = found
        if frontier:
            run("lock_parents", {"ids": frontier})
    return back


def moves(
    changes: Sequence[tuple[str, JobState, JobState]],
) -> tuple[list[tuple[str, JobState]], list[str]]:
    """From (id, state before, state after) of applied changes: the jobs that ended (for
    `release`) and those put back to pending from an end (for `reopen`)."""
    ended = [
        (job_id, after)
        for job_id, before, after in changes
        if after in FINAL_STATES and before not in FINAL_STATES
    ]
    reopened = [
        job_id
        for job_id, before, after in changes
        if before in FINAL_STATES and after is JobState.PENDING
    ]
    return ended, reopened


def release_rules() -> dict[str, dict[str, object]]:
    """queuectl.workflow's rules for each end state, as a PostgreSQL release applies them."""
    return {
        state.value: {
            "met": workflow.met_modes(state),
            "never": workflow.never_modes(state),
            "note": workflow.ended_as(state),
        }
        for state in FINAL_STATES
    }


def links_of(job_ids: Sequence[str], edges: Iterable[tuple[str, str]]) -> dict[str, JobLinks]:
    """Store.job_links from the (parent, child) edges that touch any of `job_ids`."""
    after: dict[str, list[str]] = {job_id: [] for job_id in job_ids}
    dependents: dict[str, list[str]] = {job_id: [] for job_id in job_ids}
    for parent, child in edges:
        if child in after:
            after[child].append(parent)
        if parent in dependents:
            dependents[parent].append(child)
    return {i: JobLinks(tuple(sorted(after[i])), tuple(sorted(dependents[i]))) for i in after}

"""Jobs by filter rather than by id: how many match a listing's filter, and the bulk
actions (cancel, requeue, delete) on every job that matches one.

A count comes from the store's kept counters when the filter is states and a queue (as
cheap with a million jobs as with ten); an id prefix counts along the id index up to
COUNT_CAP; a command search would read every row, so it is not counted here (the caller
knows only what its pages have shown).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from queuectl.errors import InvalidSpec
from queuectl.models import BLOCKED, JobQuery, JobState
from queuectl.service.jobs import cancel, delete, requeue
from queuectl.service.paging import check_query

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from queuectl.store.base import Store

COUNT_CAP = 500  # an id-prefix count stops here: "more than 500"
# The most jobs one bulk action changes, by filter or by ids (the API's {"ids"} bodies):
# the store changes them in one transaction (10,000 take one to two seconds on SQLite).
MAX_MATCHING = 10_000


class MatchCount(msgspec.Struct, frozen=True):
    """How many jobs match a filter: exactly `count`, or (`exact` false) more than it."""

    count: int
    exact: bool


def count_matching(store: Store, query: JobQuery) -> MatchCount | None:
    """How many jobs answer `query`'s filter (its cursor, order and limit aside); None
    when only reading every row would tell (a command search)."""
    query = check_query(msgspec.structs.replace(query, cursor=None, limit=1, order="oldest"))
    if query.search is not None:
        return None
    if query.id_prefix is not None:
        found = len(store.query_jobs(query, None, COUNT_CAP + 1))
        return MatchCount(min(found, COUNT_CAP), found <= COUNT_CAP)
    counts = store.count_jobs(query.queue)
    total = 0
    for state in query.states or tuple(JobState):
        if isinstance(state, JobState):
            total += counts.by_state[state]
        else:  # a view of pending jobs (check_query drops it beside pending)
            total += counts.blocked if state == BLOCKED else counts.scheduled
    return MatchCount(total, True)


def ids_matching(store: Store, query: JobQuery) -> list[str]:
    """The ids of every job that answers `query`'s filter, oldest first; InvalidSpec
    (field "filter") when more than MAX_MATCHING do."""
    query = check_query(
        msgspec.structs.replace(query, cursor=None, limit=0, order="oldest"), max_limit=None
    )
    jobs = store.query_jobs(query, None, MAX_MATCHING + 1)
    if len(jobs) > MAX_MATCHING:
        raise InvalidSpec(
            f"more than {MAX_MATCHING:,} jobs match: narrow the filter", field="filter"
        )
    return [job.id for job in jobs]


BULK_ACTIONS: dict[str, Callable[[Store, Sequence[str]], object]] = {
    "cancel": cancel,
    "requeue": requeue,
    "delete": delete,
}


def act_on_matching(store: Store, action: str, query: JobQuery) -> int:
    """Cancel, requeue or delete every job that matches the filter, all or none (the
    store's rules for ids: a job the action does not apply to refuses the whole set);
    returns how many jobs it changed."""
    act = BULK_ACTIONS.get(action)
    if act is None:
        names = ", ".join(BULK_ACTIONS)
        raise InvalidSpec(f"unknown action {action!r} (valid: {names})", field="action")
    ids = ids_matching(store, query)
    if ids:
        act(store, ids)
    return len(ids)

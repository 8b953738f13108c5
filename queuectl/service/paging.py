"""Listing jobs a page at a time, with a cursor on the job's `seq`.

A cursor names the last job of a page (its seq, and the order it was listed in), so the
next page starts right after it whatever was inserted or deleted meanwhile; an offset
would skip or repeat jobs. It is opaque to clients: urlsafe base64 of "v1:<order>:<seq>".
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

import msgspec

from queuectl.errors import InvalidSpec
from queuectl.models import BLOCKED, SCHEDULED, JobPage, JobQuery, JobState
from queuectl.spec import MAX_ID_LENGTH

if TYPE_CHECKING:
    from queuectl.store.base import Store

ORDERS = ("newest", "oldest")
MAX_PAGE = 1000  # what a front end may ask for at once; 0 (everything) is the CLI's
MAX_SEARCH = 1000


def encode_cursor(order: str, seq: int) -> str:
    raw = f"v1:{order}:{seq}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, order: str) -> int:
    """The seq a cursor points after; InvalidSpec (field "cursor") for anything else."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        version, made_for, seq = base64.urlsafe_b64decode(padded).decode().split(":")
        if version != "v1" or made_for not in ORDERS or not seq.isdigit():
            raise ValueError(cursor)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidSpec(f"invalid cursor {cursor!r}", field="cursor") from None
    if made_for != order:
        raise InvalidSpec(f"this cursor continues a {made_for}-first listing", field="cursor")
    return int(seq)


def check_query(query: JobQuery, max_limit: int | None = MAX_PAGE) -> JobQuery:
    """Validate a query (states, order, limit, lengths); returns it with states
    normalised (JobState values, "scheduled" dropped when "pending" covers it)."""
    states = []
    for state in query.states:
        if state in (SCHEDULED, BLOCKED):
            states.append(state)
            continue
        try:
            states.append(JobState(state))
        except ValueError:
            raise InvalidSpec(f"unknown state {state!r}", field="state") from None
    for view in (SCHEDULED, BLOCKED):
        if JobState.PENDING in states and view in states:
            states.remove(view)
    if query.order not in ORDERS:
        raise InvalidSpec(f"order must be newest or oldest, not {query.order!r}", field="order")
    low = 0 if max_limit is None else 1
    if query.limit < low or (max_limit is not None and query.limit > max_limit):
        top = f" and {max_limit}" if max_limit is not None else ""
        raise InvalidSpec(f"limit must be between {low}{top}", field="limit")
    if query.id_prefix is not None and len(query.id_prefix) > MAX_ID_LENGTH:
        raise InvalidSpec("id_prefix is longer than any job id", field="id_prefix")
    if query.search is not None and len(query.search) > MAX_SEARCH:
        raise InvalidSpec(f"search is longer than {MAX_SEARCH} characters", field="search")
    return msgspec.structs.replace(
        query,
        states=tuple(dict.fromkeys(states)),
        id_prefix=query.id_prefix or None,
        search=query.search or None,
        queue=query.queue or None,
    )


def list_jobs(store: Store, query: JobQuery, max_limit: int | None = MAX_PAGE) -> JobPage:
    """One page of jobs. `max_limit=None` allows limit 0 (every job: the CLI's --limit 0)."""
    query = check_query(query, max_limit)
    after = None if query.cursor is None else decode_cursor(query.cursor, query.order)
    limit = query.limit or None
    # One more than asked tells whether another page follows.
    jobs = store.query_jobs(query, after, None if limit is None else limit + 1)
    if limit is None or len(jobs) <= limit:
        return JobPage(jobs=jobs, next_cursor=None)
    jobs = jobs[:limit]
    return JobPage(jobs=jobs, next_cursor=encode_cursor(query.order, jobs[-1].seq))

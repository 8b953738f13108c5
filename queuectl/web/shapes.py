"""The API's own response shapes: the envelopes around the shared ones (queuectl.serialize
and the service's values), and the error responses each route documents.

Handlers return these Structs and say so in their return type, which is what Litestar
encodes and what the OpenAPI schema describes: the schemathesis test then checks every
response against it.
"""

from __future__ import annotations

import msgspec
from litestar.openapi import ResponseSpec

from queuectl.serialize import Error, Job, Worker
from queuectl.service.config import ConfigItem
from queuectl.service.matching import MatchCount
from queuectl.service.observe import Minute
from queuectl.service.queues import QueueOverview


class Workers(msgspec.Struct):
    workers: list[Worker]


class ConfigItems(msgspec.Struct):
    items: list[ConfigItem]


class Throughput(msgspec.Struct):
    minutes: list[Minute]


class Queues(msgspec.Struct):
    queues: list[QueueOverview]
    paused: list[str]  # as GET /api/status: paused names, "*" = every queue


class ScheduledJobs(msgspec.Struct):
    """A queue's scheduled jobs, earliest run time first; `complete` is false when the
    queue held more than `read` (the earliest of those read are shown)."""

    jobs: list[Job]
    read: int
    complete: bool


class JobListing(msgspec.Struct):
    """A page of GET /api/jobs, with how many jobs answer its filter: `total` is null
    when only reading every job would tell (a command search)."""

    jobs: list[Job]
    next_cursor: str | None
    total: MatchCount | None


class Matched(msgspec.Struct):
    """What POST /api/jobs/bulk did: the action, and on how many jobs."""

    action: str
    count: int


class Enqueued(msgspec.Struct, omit_defaults=True):
    """`id` for one job enqueued, `ids` for several. A job whose unique key a waiting or
    running job holds is a duplicate: its id is that job's, and `duplicate` (with
    `replaced`: that job took its spec) is true for it; for several, one boolean per id.
    Both are left out when no job was a duplicate."""

    id: str | None = None
    ids: list[str] | None = None
    duplicate: bool | list[bool] | None = None
    replaced: bool | list[bool] | None = None


class JobState(msgspec.Struct):
    id: str
    state: str


class JobStates(msgspec.Struct):
    states: dict[str, str]


class IdList(msgspec.Struct):
    ids: list[str]


class Requeued(msgspec.Struct):
    """The jobs put back to pending, and `brought_back`: jobs that came back with them,
    each cancelled before only because one of those had ended (a workflow)."""

    ids: list[str]
    brought_back: list[str]


class RequeuedJob(msgspec.Struct):
    """One job put back to pending, and the jobs that came back with it."""

    id: str
    state: str
    brought_back: list[str]


class Deleted(msgspec.Struct):
    deleted: int


class Asked(msgspec.Struct):
    asked: int


class Paused(msgspec.Struct):
    paused: list[str]  # every paused queue after the change; "*" = every queue


class Info(msgspec.Struct):
    version: str
    read_only: bool
    auth_required: bool
    backend: str  # the store's own name for its backend (Store.backend)


SUCCESS = "success"  # how every resource describes its success response

_ERRORS = {
    400: "malformed JSON or a bad parameter",
    401: "missing or wrong token",
    403: "read-only server, or a refused cross-site or CSRF request",
    421: "a Host name this server does not answer to",
    429: "too many wrong tokens, or too many streams from one client (see Retry-After)",
    431: "request line and headers over 16 KiB",
    404: "unknown id or key",
    409: "duplicate id, or a state that does not allow the change",
    413: "request body too large",
    422: "invalid value (`field` names it)",
    503: "database unavailable (see Retry-After)",
}


def errors(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI responses: an Error for each of `statuses` and for those any route may
    answer (the success response is the handler's return type)."""
    return {
        code: ResponseSpec(data_container=Error, description=_ERRORS[code], generate_examples=False)
        for code in (400, 401, 403, 421, 429, 431, 503, *statuses)
    }

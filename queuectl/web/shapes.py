"""The API's response shapes for the OpenAPI schema (/docs, schemathesis).

The JSON itself is built by queuectl.serialize, shared with the CLI; these Structs only
describe it, and the schemathesis test checks every response against them, so the two
cannot drift apart unnoticed.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.openapi import ResponseSpec


class Error(msgspec.Struct):
    error: str
    field: str | None = None


class Job(msgspec.Struct):
    id: str
    command: str
    state: str
    attempts: int  # failed attempts counted against max_retries (reset by a requeue)
    last_attempt: int  # number of the latest attempt; attempt numbers never repeat
    max_retries: int
    priority: int
    queue: str
    run_at: str | None
    timeout: float | None
    created_at: str
    updated_at: str
    worker_id: str | None
    lease_expires_at: str | None
    exit_code: int | None
    last_error: str | None
    cancel_requested: bool
    final: bool
    keep_daemons: bool
    seq: int
    cwd: str | None  # None: the worker's directory
    env: dict[str, str] | None  # merged over the worker's environment


class Attempt(msgspec.Struct):
    attempt: int
    worker_id: str
    started_at: str
    finished_at: str | None
    exit_code: int | None
    error: str | None
    stdout: str
    stderr: str


class JobPage(msgspec.Struct):
    jobs: list[Job]
    next_cursor: str | None


class JobDetails(msgspec.Struct):
    job: Job
    attempts: list[Attempt]


class Output(msgspec.Struct):
    attempt: int | None
    stdout: str
    stderr: str
    running: bool
    exit_code: int | None
    error: str | None


class Worker(msgspec.Struct):
    id: str
    host: str
    pid: int
    queues: list[str]
    slots: int
    started_at: str
    heartbeat_at: str
    heartbeat_age: float | None
    alive: bool | None
    stop_requested: str | None
    running: list[str]


class Workers(msgspec.Struct):
    workers: list[Worker]


class Status(msgspec.Struct):
    jobs: dict[str, int]
    queues: dict[str, dict[str, float | None]]
    scheduled: int
    workers: list[Worker]
    slots: int
    slots_busy: int
    paused: list[str]  # paused queues; "*" = every queue


class ConfigItem(msgspec.Struct):
    key: str
    value: str
    default: str
    is_default: bool
    meaning: str
    type: str


class ConfigItems(msgspec.Struct):
    items: list[ConfigItem]


class Minute(msgspec.Struct):
    start: str
    completed: int
    failed: int


class Throughput(msgspec.Struct):
    minutes: list[Minute]


class DlqGroup(msgspec.Struct):
    key: str
    error: str | None
    exit_code: int | None
    count: int
    newest_job_id: str


class DlqGroups(msgspec.Struct):
    groups: list[DlqGroup]


class Enqueued(msgspec.Struct):
    id: str | None = None
    ids: list[str] | None = None


class JobState(msgspec.Struct):
    id: str
    state: str


class JobStates(msgspec.Struct):
    states: dict[str, str]


class IdList(msgspec.Struct):
    ids: list[str]


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
    backend: str


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


def responses(shape: type[Any] | None, status: int = 200, *errors: int) -> dict[int, ResponseSpec]:
    """OpenAPI responses: `shape` for success, Error for each listed error status."""
    found: dict[int, ResponseSpec] = {}
    if shape is not None:
        found[status] = ResponseSpec(data_container=shape, description="success")
    for code in (400, 401, 403, 421, 429, 431, 503, *errors):
        found[code] = ResponseSpec(data_container=Error, description=_ERRORS[code])
    return found

"""/api/jobs: enqueue, list, show, output (whole or followed), cancel, requeue, delete."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import msgspec
from litestar import Response, delete, get, post
from litestar.concurrency import sync_to_thread
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Operation
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Stream

from queuectl import serialize, service
from queuectl.errors import InvalidSpec
from queuectl.models import SCHEDULED, JobQuery, JobState
from queuectl.service.matching import MAX_MATCHING, MatchCount
from queuectl.service.paging import MAX_SEARCH
from queuectl.spec import MAX_ID_LENGTH, JobId, inline_schema, spec_json_schema
from queuectl.web import bodies, shapes
from queuectl.web.bodies import body_operation
from queuectl.web.context import HttpRequest, in_thread, server, store
from queuectl.web.paths import job_id_from_path

if TYPE_CHECKING:
    from queuectl.store.base import Store

T = TypeVar("T")
NDJSON = "application/x-ndjson"
MAX_ATTEMPT = 2**31 - 1  # attempts are 32-bit integers in every backend


class Ids(msgspec.Struct, forbid_unknown_fields=True):
    """Several jobs at once (all or nothing)."""

    ids: Annotated[list[JobId], msgspec.Meta(min_length=1, max_length=MAX_MATCHING)]


_STATE = Annotated[str, msgspec.Meta(pattern=f"^({'|'.join([*JobState, SCHEDULED])})$")]


class Bulk(msgspec.Struct, forbid_unknown_fields=True):
    """An action on every job that answers a filter (GET /api/jobs's), all or nothing."""

    action: Literal["cancel", "requeue", "delete"]
    state: list[_STATE] = msgspec.field(default_factory=list)
    queue: str | None = None
    id_prefix: Annotated[str, msgspec.Meta(max_length=MAX_ID_LENGTH)] | None = None
    search: Annotated[str, msgspec.Meta(max_length=MAX_SEARCH)] | None = None


class EnqueueOperation(Operation):
    """Documents the body we decode ourselves: one spec, an array, or JSON lines."""

    def to_schema(self) -> dict[str, Any]:
        schema = super().to_schema()
        spec = spec_json_schema()
        one_or_many = {"oneOf": [spec, {"type": "array", "items": spec, "minItems": 1}]}
        schema["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": one_or_many},
                NDJSON: {"schema": {"type": "string", "description": "one job spec per line"}},
            },
        }
        return schema


@post(
    "/api/jobs",
    operation_class=EnqueueOperation,
    status_code=201,
    summary="Enqueue one job (an object) or many (an array or JSON lines), all or nothing",
    responses=shapes.errors(409, 413, 422),
)
async def enqueue_jobs(request: HttpRequest) -> shapes.Enqueued:
    body = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise InvalidSpec("malformed JSON: the body is not UTF-8") from None
    many = content_type == NDJSON or text.lstrip().startswith("[")
    stores = server(request).stores

    def work() -> shapes.Enqueued:
        if many:
            return shapes.Enqueued(ids=service.enqueue_bulk(stores.get(), text))
        job = service.spec_with_overrides(service.read_spec(text), {})
        return shapes.Enqueued(id=service.enqueue(stores.get(), [job])[0])

    return await sync_to_thread(work)


_STATE_NAMES = "|".join([*(state.value for state in JobState), SCHEDULED])
STATES_PATTERN = f"^[\\s,]*(({_STATE_NAMES})[\\s,]*)*$"


class ListOperation(Operation):
    """`state` takes names, repeated or comma-separated: say which."""

    def to_schema(self) -> dict[str, Any]:
        schema = super().to_schema()
        for parameter in schema.get("parameters", []):
            if parameter["name"] == "state":
                item = {"type": "string", "pattern": STATES_PATTERN}
                parameter["schema"] = {"oneOf": [{"type": "array", "items": item}, item]}
        return schema


@get(
    "/api/jobs",
    summary="List jobs, a page at a time",
    operation_class=ListOperation,
    responses=shapes.errors(422),
)
@in_thread
def list_jobs(
    request: HttpRequest,
    states: Annotated[list[str] | None, QueryParameter(name="state")] = None,
    queue: FromQuery[str | None] = None,
    id_prefix: FromQuery[str | None] = None,
    search: FromQuery[str | None] = None,
    order: FromQuery[Literal["newest", "oldest"]] = "newest",
    limit: Annotated[int, QueryParameter(ge=1, le=service.MAX_PAGE)] = 50,
    cursor: FromQuery[str | None] = None,
    fingerprint: Annotated[
        str | None,
        QueryParameter(
            description="a `key` of GET /api/dlq/groups: the dead jobs of that group "
            "(with state, order, limit and cursor only)",
            max_length=64,
        ),
    ] = None,
) -> shapes.JobListing:
    query = JobQuery(  # an empty parameter (`cursor=`, as a form sends it) is no parameter
        states=service.parse_list_states(states),
        queue=queue or None,
        id_prefix=id_prefix or None,
        search=search or None,
        order=order,
        limit=limit,
        cursor=cursor or None,
    )
    total: MatchCount | None
    if fingerprint:
        from queuectl.service.dlq_groups import list_group_counted

        page, total = list_group_counted(store(request), fingerprint, query)
    else:
        page = service.list_jobs(store(request), query)
        total = service.count_matching(store(request), query)
    from queuectl.service.limits import waiting_reasons

    held = waiting_reasons(store(request), page.jobs)
    jobs = [serialize.Job.of(job, held.get(job.id)) for job in page.jobs]
    return shapes.JobListing(jobs, page.next_cursor, total)


@get(
    "/api/jobs/{job_id:str}",
    summary="A job and its attempts",
    responses=shapes.errors(404),
)
@in_thread
def show_job(request: HttpRequest, job_id: FromPath[str]) -> serialize.JobDetails:
    job_id = job_id_from_path(job_id)
    job, attempts = service.job_details(store(request), job_id)
    links = service.job_links(store(request), job_id)
    from queuectl.service.limits import waiting_reasons

    held = waiting_reasons(store(request), [job]).get(job.id)
    return serialize.JobDetails.of(job, attempts, links, held)


class OutputOperation(Operation):
    """With ?follow=1 the same 200 is an event stream: document both media types."""

    def to_schema(self) -> dict[str, Any]:
        schema = super().to_schema()
        content = schema["responses"]["200"]["content"]
        content["text/event-stream"] = {
            "schema": {
                "description": "events `stdout` and `stderr` (data: JSON text), then `end` "
                "(data: {exit_code, state, error})"
            }
        }
        return schema


@get(
    "/api/jobs/{job_id:str}/output",
    summary="An attempt's output; ?follow=1 streams it (server-sent events) until it ends",
    operation_class=OutputOperation,
    # Two media types for one status: the return type cannot say it, so the route does.
    responses={
        200: ResponseSpec(serialize.Output, description=shapes.SUCCESS, generate_examples=False),
        **shapes.errors(404, 422),
    },
)
async def job_output(
    request: HttpRequest,
    job_id: FromPath[str],
    attempt: Annotated[int | None, QueryParameter(ge=1, le=MAX_ATTEMPT)] = None,
    follow: FromQuery[bool] = False,
) -> Response[serialize.Output] | Stream:
    from queuectl.web import output

    job_id = job_id_from_path(job_id)
    if follow:
        client = request.client.host if request.client else "?"
        first = await output.start_follow(server(request), client, job_id, attempt)
        return Stream(first, media_type="text/event-stream", headers=output.SSE_HEADERS)
    data = await output.whole(server(request), job_id, attempt)
    return Response(data)


@post(
    "/api/jobs/{job_id:str}/cancel",
    status_code=200,
    summary="Cancel",
    responses=shapes.errors(404, 409),
)
@in_thread
def cancel_job(request: HttpRequest, job_id: FromPath[str]) -> shapes.JobState:
    job_id = job_id_from_path(job_id)
    states = service.cancel(store(request), [job_id])
    return shapes.JobState(job_id, states[job_id].value)


@post(
    "/api/jobs/{job_id:str}/requeue",
    status_code=200,
    summary="Put a finished or failed job back to pending",
    responses=shapes.errors(404, 409),
)
@in_thread
def requeue_job(request: HttpRequest, job_id: FromPath[str]) -> shapes.RequeuedJob:
    job_id = job_id_from_path(job_id)
    moved = service.requeue(store(request), [job_id])
    return shapes.RequeuedJob(job_id, JobState.PENDING.value, moved.brought_back)


@post(
    "/api/jobs/{job_id:str}/run-now",
    status_code=200,
    summary="Make a waiting job due now (its run_at set to the server's now)",
    responses=shapes.errors(404, 409),
)
@in_thread
def run_now(request: HttpRequest, job_id: FromPath[str]) -> serialize.Job:
    job_id = job_id_from_path(job_id)
    return serialize.Job.of(service.run_now(store(request), job_id))


@delete(
    "/api/jobs/{job_id:str}",
    status_code=200,
    summary="Delete a finished job",
    responses=shapes.errors(404, 409),
)
@in_thread
def delete_job(request: HttpRequest, job_id: FromPath[str]) -> shapes.Deleted:
    job_id = job_id_from_path(job_id)
    return shapes.Deleted(service.delete(store(request), [job_id]))


IDS_BODY = body_operation(inline_schema(Ids))


async def _on_ids(request: HttpRequest, act: Callable[[Store, list[str]], T]) -> T:
    """`act(store, ids)` in a worker thread, for a body `{"ids": [...]}`."""
    ids = (await bodies.read(request, Ids)).ids
    stores = server(request).stores
    return await sync_to_thread(lambda: act(stores.get(), ids))


@post(
    "/api/jobs/cancel",
    status_code=200,
    summary="Cancel several jobs",
    operation_class=IDS_BODY,
    responses=shapes.errors(404, 409, 422),
)
async def cancel_many(request: HttpRequest) -> shapes.JobStates:
    states = await _on_ids(request, service.cancel)
    return shapes.JobStates({job_id: state.value for job_id, state in states.items()})


@post(
    "/api/jobs/requeue",
    status_code=200,
    summary="Requeue several jobs",
    operation_class=IDS_BODY,
    responses=shapes.errors(404, 409, 422),
)
async def requeue_many(request: HttpRequest) -> shapes.Requeued:
    moved = await _on_ids(request, service.requeue)
    return shapes.Requeued(list(moved), moved.brought_back)


@post(
    "/api/jobs/delete",
    status_code=200,
    summary="Delete several jobs",
    operation_class=IDS_BODY,
    responses=shapes.errors(404, 409, 422),
)
async def delete_many(request: HttpRequest) -> shapes.Deleted:
    return shapes.Deleted(await _on_ids(request, service.delete))


@post(
    "/api/jobs/bulk",
    status_code=200,
    summary="Cancel, requeue or delete every job that answers a filter, all or nothing",
    operation_class=body_operation(inline_schema(Bulk)),
    responses=shapes.errors(404, 409, 422),
)
async def bulk_by_filter(request: HttpRequest) -> shapes.Matched:
    body = await bodies.read(request, Bulk)
    query = JobQuery(
        states=service.parse_list_states(body.state),
        queue=body.queue or None,
        id_prefix=body.id_prefix or None,
        search=body.search or None,
    )
    stores = server(request).stores
    count = await sync_to_thread(lambda: service.act_on_matching(stores.get(), body.action, query))
    return shapes.Matched(body.action, count)


HANDLERS = [
    enqueue_jobs,
    list_jobs,
    show_job,
    job_output,
    cancel_job,
    requeue_job,
    run_now,
    delete_job,
    cancel_many,
    requeue_many,
    delete_many,
    bulk_by_filter,
]

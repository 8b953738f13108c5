"""/api/jobs: enqueue, list, show, output (whole or followed), cancel, requeue, delete."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.openapi.spec import Operation
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import Stream

from queuectl import serialize, service
from queuectl.errors import InvalidSpec
from queuectl.models import JobQuery
from queuectl.spec import JobSpec
from queuectl.web import shapes
from queuectl.web.context import in_thread, server, store
from queuectl.web.paths import job_id_from_path

Json = dict[str, Any]
NDJSON = "application/x-ndjson"
MAX_ATTEMPT = 2**31 - 1  # attempts are 32-bit integers in every backend


class Ids(msgspec.Struct, forbid_unknown_fields=True):
    """Several jobs at once (all or nothing)."""

    ids: Annotated[list[str], msgspec.Meta(min_length=1, max_length=10_000)]


def _spec_schema() -> Json:
    """The job spec's JSON Schema, from the one msgspec type (never written twice)."""
    schema = msgspec.json.schema(JobSpec)
    definitions = schema.pop("$defs")
    return dict(definitions[schema["$ref"].rsplit("/", 1)[1]])


class EnqueueOperation(Operation):
    """Documents the body we decode ourselves: one spec, an array, or JSON lines."""

    def to_schema(self) -> dict[str, Any]:
        schema = super().to_schema()
        spec = _spec_schema()
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
    responses=shapes.responses(shapes.Enqueued, 201, 409, 413, 422),
)
async def enqueue_jobs(request: Request[Any, Any, Any]) -> Json:
    body = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise InvalidSpec("malformed JSON: the body is not UTF-8") from None
    many = content_type == NDJSON or text.lstrip().startswith("[")
    stores = server(request).stores

    def work() -> Json:
        if many:
            return {"ids": service.enqueue_bulk(stores.get(), text)}
        job = service.spec_with_overrides(service.read_spec(text), {})
        return {"id": service.enqueue(stores.get(), [job])[0]}

    from litestar.concurrency import sync_to_thread

    return await sync_to_thread(work)


@get(
    "/api/jobs",
    summary="List jobs, a page at a time",
    responses=shapes.responses(shapes.JobPage, 200, 422),
)
@in_thread
def list_jobs(
    request: Request[Any, Any, Any],
    states: Annotated[list[str] | None, QueryParameter(name="state")] = None,
    queue: FromQuery[str | None] = None,
    id_prefix: FromQuery[str | None] = None,
    search: FromQuery[str | None] = None,
    order: FromQuery[str] = "newest",
    limit: Annotated[int, QueryParameter(ge=1, le=service.MAX_PAGE)] = 50,
    cursor: FromQuery[str | None] = None,
) -> Json:
    query = JobQuery(
        states=service.parse_list_states(states),
        queue=queue,
        id_prefix=id_prefix,
        search=search,
        order=order,
        limit=limit,
        cursor=cursor,
    )
    return serialize.page_dict(service.list_jobs(store(request), query))


@get(
    "/api/jobs/{job_id:str}",
    summary="A job and its attempts",
    responses=shapes.responses(shapes.JobDetails, 200, 404),
)
@in_thread
def show_job(request: Request[Any, Any, Any], job_id: FromPath[str]) -> Json:
    job_id = job_id_from_path(job_id)
    job, attempts = service.job_details(store(request), job_id)
    return serialize.job_details_dict(job, attempts)


@get(
    "/api/jobs/{job_id:str}/output",
    summary="An attempt's output; ?follow=1 streams it (server-sent events) until it ends",
    responses=shapes.responses(shapes.Output, 200, 404, 422),
)
async def job_output(
    request: Request[Any, Any, Any],
    job_id: FromPath[str],
    attempt: Annotated[int | None, QueryParameter(ge=1, le=MAX_ATTEMPT)] = None,
    follow: FromQuery[bool] = False,
) -> Response[Any]:
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
    responses=shapes.responses(shapes.JobState, 200, 404, 409),
)
@in_thread
def cancel_job(request: Request[Any, Any, Any], job_id: FromPath[str]) -> Json:
    job_id = job_id_from_path(job_id)
    states = service.cancel(store(request), [job_id])
    return {"id": job_id, "state": states[job_id].value}


@post(
    "/api/jobs/{job_id:str}/requeue",
    status_code=200,
    summary="Put a finished or failed job back to pending",
    responses=shapes.responses(shapes.JobState, 200, 404, 409),
)
@in_thread
def requeue_job(request: Request[Any, Any, Any], job_id: FromPath[str]) -> Json:
    job_id = job_id_from_path(job_id)
    service.requeue(store(request), [job_id])
    return {"id": job_id, "state": "pending"}


@delete(
    "/api/jobs/{job_id:str}",
    status_code=200,
    summary="Delete a finished job",
    responses=shapes.responses(shapes.Deleted, 200, 404, 409),
)
@in_thread
def delete_job(request: Request[Any, Any, Any], job_id: FromPath[str]) -> Json:
    job_id = job_id_from_path(job_id)
    return {"deleted": service.delete(store(request), [job_id])}


@post(
    "/api/jobs/cancel",
    status_code=200,
    summary="Cancel several jobs",
    responses=shapes.responses(shapes.JobStates, 200, 404, 409, 422),
)
@in_thread
def cancel_many(request: Request[Any, Any, Any], data: JSONBody[Ids]) -> Json:
    states = service.cancel(store(request), data.ids)
    return {"states": {job_id: state.value for job_id, state in states.items()}}


@post(
    "/api/jobs/requeue",
    status_code=200,
    summary="Requeue several jobs",
    responses=shapes.responses(shapes.IdList, 200, 404, 409, 422),
)
@in_thread
def requeue_many(request: Request[Any, Any, Any], data: JSONBody[Ids]) -> Json:
    return {"ids": service.requeue(store(request), data.ids)}


@post(
    "/api/jobs/delete",
    status_code=200,
    summary="Delete several jobs",
    responses=shapes.responses(shapes.Deleted, 200, 404, 409, 422),
)
@in_thread
def delete_many(request: Request[Any, Any, Any], data: JSONBody[Ids]) -> Json:
    return {"deleted": service.delete(store(request), data.ids)}


HANDLERS = [
    enqueue_jobs,
    list_jobs,
    show_job,
    job_output,
    cancel_job,
    requeue_job,
    delete_job,
    cancel_many,
    requeue_many,
    delete_many,
]

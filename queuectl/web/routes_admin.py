"""/api: dlq, status, throughput, workers, config, info."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import delete, get, post, put
from litestar.concurrency import sync_to_thread
from litestar.params import FromPath, FromQuery, Parameter, QueryParameter

from queuectl import __version__, serialize, service
from queuectl.errors import InvalidSpec
from queuectl.models import Requeued
from queuectl.service import dlq_groups as groups_
from queuectl.service import observe as observe_
from queuectl.spec import QUEUE_PATTERN, JobId, inline_schema
from queuectl.web import bodies, shapes
from queuectl.web.bodies import body_operation
from queuectl.web.context import HttpRequest, in_thread, server, store

QueueName = Annotated[str, Parameter(pattern=f"^{QUEUE_PATTERN.pattern}$")]
MAX_AGE = 100 * 365 * 86_400.0


class DlqRetry(msgspec.Struct, forbid_unknown_fields=True):
    """Which dead jobs to retry: `ids`, `all`, or a `group` key from /api/dlq/groups.
    An empty list, `false` or an empty key counts as not given; exactly one must be."""

    ids: Annotated[list[JobId], msgspec.Meta(max_length=10_000)] | None = None
    all: bool = False
    group: str | None = None


def _dlq_retry_schema() -> dict[str, object]:
    schema = inline_schema(DlqRetry)
    schema["oneOf"] = [
        {"required": ["ids"], "properties": {"ids": {"type": "array", "minItems": 1}}},
        {"required": ["all"], "properties": {"all": {"const": True}}},
        {"required": ["group"], "properties": {"group": {"type": "string", "minLength": 1}}},
    ]
    return schema


class DlqPurge(msgspec.Struct, forbid_unknown_fields=True):
    """Every dead job (`older_than` seconds dead, when given), or one `group` (all of
    its jobs or none)."""

    older_than: Annotated[float, msgspec.Meta(ge=0, le=MAX_AGE)] | None = None
    group: str | None = None


class WorkerStop(msgspec.Struct, forbid_unknown_fields=True):
    worker_id: str | None = None
    now: bool = False


class ConfigValue(msgspec.Struct, forbid_unknown_fields=True):
    """A number may be sent as a number or as the string GET shows."""

    value: str | int | float


@get(
    "/api/dlq",
    summary="Dead jobs, newest first, a page at a time",
    responses=shapes.errors(422),
)
@in_thread
def dlq_list(
    request: HttpRequest,
    limit: Annotated[int, QueryParameter(ge=1, le=service.MAX_PAGE)] = 50,
    cursor: FromQuery[str | None] = None,
    queue: FromQuery[str | None] = None,
) -> serialize.JobPage:
    page = service.list_dead(store(request), limit, cursor or None, queue or None)
    return serialize.JobPage.of(page)


@get(
    "/api/dlq/groups",
    summary="The newest dead jobs grouped by failure fingerprint",
    responses=shapes.errors(),
)
@in_thread
def dlq_groups(request: HttpRequest) -> groups_.DlqGroups:
    return groups_.dlq_groups(store(request))


@post(
    "/api/dlq/retry",
    status_code=200,
    summary="Retry dead jobs",
    operation_class=body_operation(_dlq_retry_schema()),
    responses=shapes.errors(404, 409, 413, 422),
)
async def dlq_retry(request: HttpRequest) -> shapes.Requeued:
    data = await bodies.read(request, DlqRetry)
    given = sum((bool(data.ids), data.all, bool(data.group)))
    if given != 1:
        raise InvalidSpec('give exactly one of "ids", "all": true or "group"', field="ids")
    stores = server(request).stores

    def work() -> Requeued:
        the_store = stores.get()
        if data.group:  # NotFound when no dead job is in it
            return groups_.retry_group(the_store, data.group)
        return service.retry_dead(the_store, None if data.all else data.ids)

    moved = await sync_to_thread(work)
    return shapes.Requeued(list(moved), moved.brought_back)


@post(
    "/api/dlq/purge",
    status_code=200,
    summary="Delete dead jobs",
    operation_class=body_operation(inline_schema(DlqPurge)),
    responses=shapes.errors(404, 409, 413, 422),
)
async def dlq_purge(request: HttpRequest) -> shapes.Deleted:
    data = await bodies.read(request, DlqPurge)
    if data.group and data.older_than is not None:
        raise InvalidSpec('give "group" or "older_than", not both', field="group")
    stores = server(request).stores

    def work() -> int:
        if data.group:  # NotFound when no dead job is in it
            return groups_.purge_group(stores.get(), data.group)
        return service.purge_dead(stores.get(), data.older_than)

    return shapes.Deleted(await sync_to_thread(work))


@get(
    "/api/status",
    summary="Jobs per state and queue, workers, slots",
    responses=shapes.errors(),
)
@in_thread
def status(request: HttpRequest) -> serialize.Status:
    return serialize.Status.of(service.status(store(request)))


@get(
    "/api/throughput",
    summary="Jobs finished per minute",
    responses=shapes.errors(422),
)
@in_thread
def throughput(
    request: HttpRequest, minutes: Annotated[int, QueryParameter(ge=1, le=1440)] = 60
) -> shapes.Throughput:
    return shapes.Throughput(observe_.throughput(store(request), minutes))


@get(
    "/api/workers",
    summary="Workers (all=1: recently dead ones too)",
    responses=shapes.errors(),
)
@in_thread
def workers(request: HttpRequest, all: FromQuery[bool] = False) -> shapes.Workers:
    found = service.workers(store(request), include_dead=all)
    return shapes.Workers([serialize.Worker.of(w) for w in found])


@post(
    "/api/workers/stop",
    status_code=200,
    summary="Stop workers",
    operation_class=body_operation(inline_schema(WorkerStop)),
    responses=shapes.errors(404, 413, 422),
)
async def workers_stop(request: HttpRequest) -> shapes.Asked:
    data = await bodies.read(request, WorkerStop)
    ids = None if data.worker_id is None else [data.worker_id]
    stores = server(request).stores
    return shapes.Asked(
        await sync_to_thread(lambda: service.request_stop(stores.get(), ids, data.now))
    )


@get(
    "/api/config",
    summary="Every config key with its value",
    responses=shapes.errors(),
)
@in_thread
def config_list(request: HttpRequest) -> shapes.ConfigItems:
    return shapes.ConfigItems(service.config_items(store(request)))


@get(
    "/api/config/{key:str}",
    summary="One config key",
    responses=shapes.errors(404),
)
@in_thread
def config_get(request: HttpRequest, key: FromPath[str]) -> service.ConfigItem:
    return service.config_item(store(request), key)


@put(
    "/api/config/{key:str}",
    summary="Set a config value",
    operation_class=body_operation(inline_schema(ConfigValue)),
    responses=shapes.errors(404, 413, 422),
)
async def config_set(request: HttpRequest, key: FromPath[str]) -> service.ConfigItem:
    value = (await bodies.read(request, ConfigValue)).value
    if isinstance(value, bool):  # msgspec keeps bools apart from ints; so do config values
        raise InvalidSpec("invalid request body: `value` must be a string or a number")
    stores = server(request).stores

    def work() -> service.ConfigItem:
        the_store = stores.get()
        name, _ = service.config_set(the_store, key, str(value))
        return service.config_item(the_store, name)

    return await sync_to_thread(work)


@delete(
    "/api/config/{key:str}",
    status_code=200,
    summary="Reset to the default",
    responses=shapes.errors(404),
)
@in_thread
def config_reset(request: HttpRequest, key: FromPath[str]) -> service.ConfigItem:
    the_store = store(request)
    name = service.config_reset(the_store, key)
    assert name is not None
    return service.config_item(the_store, name)


@get(
    "/api/info",
    sync_to_thread=False,
    summary="What this server is and allows",
    responses=shapes.errors(),
)
def info(request: HttpRequest) -> shapes.Info:
    this = server(request)
    return shapes.Info(
        version=__version__,
        read_only=this.settings.read_only,
        auth_required=this.settings.token is not None,
        backend=this.stores.backend,
    )


@get(
    "/api/queues",
    summary="Every queue: due, scheduled, running, failed, dead, paused, oldest due job's wait",
    responses=shapes.errors(),
)
@in_thread
def queues(request: HttpRequest) -> shapes.Queues:
    from queuectl.service.queues import overview

    the_store = store(request)
    return shapes.Queues(overview(the_store), service.paused(the_store))


@get(
    "/api/queues/{name:str}/scheduled",
    summary="A queue's scheduled jobs, earliest run time first",
    responses=shapes.errors(422),
)
@in_thread
def queue_scheduled(
    request: HttpRequest,
    name: QueueName,
    limit: Annotated[int, QueryParameter(ge=1, le=service.MAX_PAGE)] = 50,
) -> shapes.ScheduledJobs:
    from queuectl.service.queues import scheduled

    found = scheduled(store(request), name, limit)
    jobs = [serialize.Job.of(job) for job in found.jobs]
    return shapes.ScheduledJobs(jobs, found.read, found.complete)


@post(
    "/api/queues/{name:str}/pause",
    status_code=200,
    summary="Pause a queue: workers start none of its jobs until it is resumed",
    responses=shapes.errors(422),
)
@in_thread
def queue_pause(request: HttpRequest, name: QueueName) -> shapes.Paused:
    return shapes.Paused(service.pause(store(request), [name]))


@post(
    "/api/queues/{name:str}/resume",
    status_code=200,
    summary="Resume a paused queue",
    responses=shapes.errors(422),
)
@in_thread
def queue_resume(request: HttpRequest, name: QueueName) -> shapes.Paused:
    return shapes.Paused(service.resume(store(request), [name]))


@post(
    "/api/queues/pause",
    status_code=200,
    summary="Pause every queue, present and future (POST /api/queues/resume undoes it)",
    responses=shapes.errors(),
)
@in_thread
def pause_all(request: HttpRequest) -> shapes.Paused:
    return shapes.Paused(service.pause(store(request), []))


@post(
    "/api/queues/resume",
    status_code=200,
    summary="Resume every paused queue",
    responses=shapes.errors(),
)
@in_thread
def resume_all(request: HttpRequest) -> shapes.Paused:
    return shapes.Paused(service.resume(store(request), []))


HANDLERS = [
    dlq_list,
    dlq_groups,
    dlq_retry,
    dlq_purge,
    status,
    throughput,
    workers,
    workers_stop,
    queues,
    queue_scheduled,
    queue_pause,
    queue_resume,
    pause_all,
    resume_all,
    config_list,
    config_get,
    config_set,
    config_reset,
    info,
]

"""/api/schedules: recurring jobs (queuectl/schedules.py), as `queuectl schedule` has them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import delete, get, post
from litestar.concurrency import sync_to_thread
from litestar.params import FromPath

from queuectl import serialize
from queuectl.schedules import MAX_EVERY, MAX_NAME, MIN_EVERY, NAME_PATTERN, CatchUp
from queuectl.service import schedules
from queuectl.service.enqueue import spec_fields, spec_with_overrides
from queuectl.service.schedules import OWN_FIELDS
from queuectl.spec import inline_schema, spec_json_schema
from queuectl.web import bodies, shapes
from queuectl.web.bodies import body_operation
from queuectl.web.context import HttpRequest, in_thread, server, store


class NewSchedule(msgspec.Struct, forbid_unknown_fields=True):
    """A schedule: its name, its timing (`cron` with `tz`, or `every` seconds) and the job
    spec of each run (`spec`: every job field but id, run_at and delay)."""

    name: Annotated[str, msgspec.Meta(pattern=f"^{NAME_PATTERN.pattern}$", max_length=MAX_NAME)]
    spec: dict[str, Any]
    cron: str | None = None
    every: Annotated[float, msgspec.Meta(ge=MIN_EVERY, le=MAX_EVERY)] | None = None
    tz: str = "UTC"
    catch_up: Literal["latest", "all", "none"] = "latest"
    no_overlap: bool = False


def _new_schedule_schema() -> dict[str, Any]:
    """NewSchedule's schema with `spec` as what it is: a job spec, less the fields each
    run sets itself (id, run_at, delay)."""
    schema = inline_schema(NewSchedule)
    spec = spec_json_schema()
    spec.pop("not", None)
    spec.pop("examples", None)
    spec["properties"] = {
        name: value for name, value in spec["properties"].items() if name not in OWN_FIELDS
    }
    schema["properties"]["spec"] = spec
    return schema


class RunStarted(msgspec.Struct):
    id: str  # the job id of the run enqueued


@get("/api/schedules", summary="Every schedule, with its next runs and latest run")
@in_thread
def list_schedules(request: HttpRequest) -> list[serialize.ScheduleShape]:
    return [serialize.ScheduleShape.of(view) for view in schedules.list_all(store(request))]


@post(
    "/api/schedules",
    summary="Add a schedule",
    operation_class=body_operation(_new_schedule_schema()),
    responses=shapes.errors(409, 413, 422),
)
async def add_schedule(request: HttpRequest) -> serialize.ScheduleShape:
    body = await bodies.read(request, NewSchedule)
    stores = server(request).stores

    def work() -> serialize.ScheduleShape:
        the_store = stores.get()
        fields = spec_fields(spec_with_overrides(body.spec, {}))
        added = schedules.add(
            the_store,
            body.name,
            fields,
            cron=body.cron,
            every=body.every,
            tz=body.tz,
            catch_up=CatchUp(body.catch_up),
            no_overlap=body.no_overlap,
        )
        return serialize.ScheduleShape.of(schedules.view(the_store, added))

    return await sync_to_thread(work)


@get("/api/schedules/{name:str}", summary="A schedule", responses=shapes.errors(404))
@in_thread
def get_schedule(request: HttpRequest, name: FromPath[str]) -> serialize.ScheduleShape:
    the_store = store(request)
    return serialize.ScheduleShape.of(schedules.view(the_store, schedules.get(the_store, name), 5))


@get(
    "/api/schedules/{name:str}/runs",
    summary="A schedule's latest runs, newest first",
    responses=shapes.errors(404),
)
@in_thread
def schedule_runs(request: HttpRequest, name: FromPath[str]) -> list[serialize.Job]:
    return [serialize.Job.of(job) for job in schedules.runs(store(request), name)]


@post(
    "/api/schedules/{name:str}/pause",
    status_code=200,
    summary="Pause a schedule",
    responses=shapes.errors(404),
)
@in_thread
def pause_schedule(request: HttpRequest, name: FromPath[str]) -> serialize.ScheduleShape:
    return _set_paused(request, name, paused=True)


@post(
    "/api/schedules/{name:str}/resume",
    status_code=200,
    summary="Resume a schedule",
    responses=shapes.errors(404),
)
@in_thread
def resume_schedule(request: HttpRequest, name: FromPath[str]) -> serialize.ScheduleShape:
    return _set_paused(request, name, paused=False)


def _set_paused(request: HttpRequest, name: str, paused: bool) -> serialize.ScheduleShape:
    the_store = store(request)
    changed = schedules.set_paused(the_store, name, paused)
    return serialize.ScheduleShape.of(schedules.view(the_store, changed))


@post(
    "/api/schedules/{name:str}/run",
    status_code=201,
    summary="Enqueue one run of a schedule now",
    responses=shapes.errors(404),
)
@in_thread
def run_schedule(request: HttpRequest, name: FromPath[str]) -> RunStarted:
    return RunStarted(schedules.run_now(store(request), name))


@delete(
    "/api/schedules/{name:str}",
    status_code=204,
    summary="Remove a schedule (its runs stay)",
    responses=shapes.errors(404),
)
@in_thread
def remove_schedule(request: HttpRequest, name: FromPath[str]) -> None:
    schedules.remove(store(request), name)


HANDLERS = [
    list_schedules,
    add_schedule,
    get_schedule,
    schedule_runs,
    pause_schedule,
    resume_schedule,
    run_schedule,
    remove_schedule,
]

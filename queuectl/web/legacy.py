"""The REST routes of the earlier QueueCTL tool 000, kept working and kept out of the
documented API (like the CLI's hidden aliases). Each is a thin call into the service."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Annotated

import msgspec
from litestar import get, post, put
from litestar.params import FromQuery, QueryParameter

from queuectl import serialize, service
from queuectl.errors import InvalidSpec, StoreError
from queuectl.web.context import HttpRequest, in_thread, server, store

MAX_WORKER_SLOTS = 256


# Tool 000's answers, keys in its order (kw_only: a default may come before a field
# without one).


class Enqueued(msgspec.Struct, kw_only=True):
    """Tool 000 answered 200 with `status_code` and `status` in the body."""

    status_code: int = 200
    status: str = "Insertion Successful"
    message: str = "job enqueued"
    id: str
    job_id: str


class DeadJobs(msgspec.Struct, kw_only=True):
    status: str = "success"
    jobs: list[serialize.Job]


class Retried(msgspec.Struct):
    retried: list[str]


class ConfigValue(msgspec.Struct):
    key: str
    value: str


class Stopping(msgspec.Struct):
    stopping: int


class Started(msgspec.Struct, kw_only=True):
    started: bool = True
    pid: int
    slots: int


async def _text(request: HttpRequest) -> str:
    try:
        return (await request.body()).decode()
    except UnicodeDecodeError:
        raise InvalidSpec("malformed JSON: the body is not UTF-8") from None


@post("/enqueue", status_code=200, include_in_schema=False)
async def enqueue(request: HttpRequest) -> Enqueued:
    from litestar.concurrency import sync_to_thread

    text = await _text(request)
    stores = server(request).stores

    def work() -> Enqueued:
        job = service.spec_with_overrides(service.read_spec(text), {})
        job_id = service.enqueue(stores.get(), [job])[0]
        return Enqueued(id=job_id, job_id=job_id)

    return await sync_to_thread(work)


@get("/list", include_in_schema=False)
@in_thread
def list_(
    request: HttpRequest,
    states: Annotated[str | None, QueryParameter(name="state")] = None,
) -> list[serialize.Job]:
    from queuectl.models import JobQuery

    query = JobQuery(states=service.parse_list_states(states), limit=service.MAX_PAGE)
    return [serialize.Job.of(job) for job in service.list_jobs(store(request), query).jobs]


@put("/update", include_in_schema=False)
async def update(request: HttpRequest) -> serialize.Job:
    from litestar.concurrency import sync_to_thread

    text = await _text(request)
    stores = server(request).stores
    job = await sync_to_thread(lambda: service.update(stores.get(), text))
    return serialize.Job.of(job)


@get("/status", include_in_schema=False)
@in_thread
def status(request: HttpRequest) -> dict[str, object]:
    """Tool 000's shape (`timestamp`, `summary`, `active_workers`, `system_status`) beside
    /api/status's own fields."""
    from queuectl.timefmt import iso

    the_store = store(request)
    found = serialize.status_dict(service.status(the_store))
    jobs: dict[str, int] = found["jobs"]
    summary = {"total_jobs": sum(jobs.values())}
    summary.update({name: jobs.get(name, 0) for name in TOOL_000_STATES})
    active = len(found["workers"])
    return {
        "timestamp": iso(the_store.now()),
        "summary": summary,
        "active_workers": active,
        "system_status": "running" if active else "idle",
        **found,
    }


TOOL_000_STATES = ("pending", "processing", "completed", "failed", "dead")


@get("/dlq/list", include_in_schema=False)
@in_thread
def dlq_list(request: HttpRequest) -> DeadJobs:
    page = service.list_dead(store(request), limit=service.MAX_PAGE)
    return DeadJobs(jobs=[serialize.Job.of(job) for job in page.jobs])


@post("/dlq/retry", status_code=200, include_in_schema=False)
@in_thread
def dlq_retry(request: HttpRequest, job_id: FromQuery[str]) -> Retried:
    return Retried(service.retry_dead(store(request), [job_id]))


@post("/config/set", include_in_schema=False, status_code=200)
async def legacy_config_set(
    request: HttpRequest,
    key: FromQuery[str | None] = None,
    value: FromQuery[str | None] = None,
) -> ConfigValue:
    """`{"key": K, "value": V}` in the body, or ?key=K&value=V."""
    from litestar.concurrency import sync_to_thread

    text = (await _text(request)).strip()
    if text:
        data = service.read_spec(text)  # one JSON object
        key, value = data.get("key", key), data.get("value", value)
    if not isinstance(key, str) or value is None:
        raise InvalidSpec('config/set needs "key" and "value"', field="key")
    stores = server(request).stores
    name, stored = await sync_to_thread(lambda: service.config_set(stores.get(), key, str(value)))
    return ConfigValue(name, stored)


@get("/config/get", include_in_schema=False)
@in_thread
def legacy_config_get(request: HttpRequest, key: FromQuery[str]) -> ConfigValue:
    item = service.config_item(store(request), key)
    return ConfigValue(item.key, item.value)


@get("/worker/stop", include_in_schema=False)
@in_thread
def worker_stop(request: HttpRequest) -> Stopping:
    """Graceful stop of every worker, recorded in the database (any host)."""
    return Stopping(service.request_stop(store(request), None, now=False))


SERVER_SECRETS = ("QUEUECTL_TOKEN",)


def worker_env(url: str) -> dict[str, str]:
    """A started worker's environment: the database in QUEUECTL_DB (not argv: `ps` would
    show a password), and none of the server's own secrets."""
    env = {k: v for k, v in os.environ.items() if k not in SERVER_SECRETS}
    env["QUEUECTL_DB"] = url
    return env


@get("/worker/start", include_in_schema=False)
@in_thread
def worker_start(
    request: HttpRequest,
    num_workers: Annotated[int, QueryParameter(ge=1, le=MAX_WORKER_SLOTS)] = 1,
) -> Started:
    """A detached local worker with `num_workers` slots (`queuectl worker start --detach`,
    which waits until the worker has registered)."""
    url = server(request).stores.url
    command = [sys.executable, "-m", "queuectl", "worker", "start", "--detach"]
    command += ["--count", str(num_workers)]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=60,
        env=worker_env(url),
        check=False,
    )
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1:] or ["worker did not start"]
        raise StoreError(reason[0].removeprefix("error: "))
    return Started(pid=int(done.stdout.split()[0]), slots=num_workers)


HANDLERS = [
    enqueue,
    list_,
    update,
    status,
    dlq_list,
    dlq_retry,
    legacy_config_set,
    legacy_config_get,
    worker_stop,
    worker_start,
]

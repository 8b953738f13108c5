"""/api: limits. A queue's concurrency limit and rate (GET and PUT
/api/queues/{name}/limits), and concurrency keys (GET /api/keys, PUT
/api/keys/{key}/limit). The queues view (GET /api/queues) shows each queue's limits and
why its due jobs wait; the rules are queuectl/limits.py's, the operations
queuectl/service/limits.py's, as the CLI's `queuectl queue`."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import get, put
from litestar.concurrency import sync_to_thread
from litestar.params import FromPath, Parameter

from queuectl.errors import InvalidSpec
from queuectl.limits import MAX_CONCURRENCY
from queuectl.service import limits
from queuectl.spec import QUEUE_PATTERN, inline_schema
from queuectl.web import bodies, shapes
from queuectl.web.bodies import body_operation
from queuectl.web.context import HttpRequest, in_thread, server, store

CONCURRENCY_SCHEMA = {
    "anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_CONCURRENCY}, {"type": "null"}]
}
QueueName = Annotated[str, Parameter(pattern=f"^{QUEUE_PATTERN.pattern}$")]
KeyName = Annotated[str, Parameter(pattern="^[A-Za-z0-9._:@/+=-]{1,200}$")]


class QueueLimitsBody(msgspec.Struct, forbid_unknown_fields=True):
    """A queue's limits, both at once: `concurrency` (a whole number >= 1; null or absent:
    none) and `rate` (`N/PERIOD`: 60/m, 10/s, 100/h, 5/10m; null or absent: none)."""

    concurrency: int | float | None = None  # 2.0 is the integer 2, as JSON Schema has it
    rate: str | None = None


class KeyLimitBody(msgspec.Struct, forbid_unknown_fields=True):
    """A concurrency key's limit: a whole number >= 1, or null for the default (1)."""

    concurrency: int | float | None = None


def _queue_limits_schema() -> dict[str, object]:
    schema = inline_schema(QueueLimitsBody)
    props = dict(schema["properties"])
    props["concurrency"] = CONCURRENCY_SCHEMA
    props["rate"] = {
        "anyOf": [
            {"type": "string", "pattern": "^\\s*\\d+\\s*/\\s*\\d*\\s*[smhd]\\s*$"},
            {"type": "null"},
        ],
        "examples": ["60/m"],
    }
    schema["properties"] = props
    return schema


def _key_limit_schema() -> dict[str, object]:
    schema = inline_schema(KeyLimitBody)
    schema["properties"] = {"concurrency": CONCURRENCY_SCHEMA}
    return schema


def _concurrency(value: int | float | None) -> int | str:
    """A body's concurrency as limits.parse_concurrency takes it (None: "none")."""
    if value is None:
        return "none"
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise InvalidSpec("`concurrency` must be a whole number or null", field="concurrency")
    return int(value)


@get(
    "/api/queues/{name:str}/limits",
    summary="A queue's limits: concurrency, rate, and when the rate allows the next start",
    responses=shapes.errors(422),
)
@in_thread
def queue_limits(request: HttpRequest, name: QueueName) -> limits.QueueLimits:
    the_store = store(request)
    found = {limit.queue: limit for limit in the_store.queue_limits()}.get(name)
    return limits.view(found, name, the_store.now())


@put(
    "/api/queues/{name:str}/limits",
    summary="Set both limits of a queue (null lifts one); every worker obeys from its next claim",
    operation_class=body_operation(_queue_limits_schema()),
    responses=shapes.errors(413, 422),
)
async def set_queue_limits(request: HttpRequest, name: QueueName) -> limits.QueueLimits:
    body = await bodies.read(request, QueueLimitsBody)
    concurrency = _concurrency(body.concurrency)
    if body.rate is not None and body.rate.strip().lower() in ("", "none"):
        # null says none here; the word is the CLI's
        raise InvalidSpec("`rate` must be N/PERIOD (like 60/m) or null", field="rate")
    rate = "none" if body.rate is None else body.rate
    stores = server(request).stores

    def work() -> limits.QueueLimits:
        return limits.set_queue_limits(stores.get(), name, concurrency, rate)

    return await sync_to_thread(work)


@get(
    "/api/keys",
    summary="Concurrency keys with unfinished jobs or a limit of their own",
    responses=shapes.errors(),
)
@in_thread
def keys(request: HttpRequest) -> list[limits.KeyView]:
    return limits.keys(store(request))


@put(
    "/api/keys/{key:str}/limit",
    summary="Set a concurrency key's limit (null: the default, 1)",
    operation_class=body_operation(_key_limit_schema()),
    responses=shapes.errors(413, 422),
)
async def set_key_limit(request: HttpRequest, key: FromPath[KeyName]) -> limits.KeyView:
    body = await bodies.read(request, KeyLimitBody)
    concurrency = _concurrency(body.concurrency)
    stores = server(request).stores
    return await sync_to_thread(lambda: limits.set_key_limit(stores.get(), key, concurrency))


HANDLERS = [queue_limits, set_queue_limits, keys, set_key_limit]

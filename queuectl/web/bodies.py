"""Request bodies decoded strictly, and documented from the same types.

Litestar converts bodies leniently (`"now": 0` becomes False, `"1"` an integer), which
the OpenAPI document does not say; the API's bodies are decoded here instead, with
msgspec's strict rules, so what the document allows is exactly what the server takes:
malformed JSON is 400, a well-formed body that breaks a rule is 422 naming the field.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from litestar.concurrency import sync_to_thread
from litestar.openapi.spec import Operation

from queuectl.errors import InvalidSpec
from queuectl.web.context import HttpRequest

T = TypeVar("T")
# Bodies larger than this are decoded in a worker thread, never on the event loop.
IN_THREAD_BYTES = 64 * 1024


async def read(request: HttpRequest, type_: type[T]) -> T:
    """The request's body decoded as `type_` (strictly); a large one off the event loop."""
    raw = await request.body()
    if len(raw) <= IN_THREAD_BYTES:
        return decode(raw, type_)
    return await sync_to_thread(decode, raw, type_)


def decode(raw: bytes, type_: type[T]) -> T:
    try:
        return msgspec.json.decode(raw, type=type_)
    except msgspec.ValidationError as err:  # the error mapping names the field
        raise InvalidSpec(f"invalid request body: {err}") from None
    except msgspec.DecodeError as err:
        detail = str(err).removeprefix("JSON is malformed: ")
        raise InvalidSpec(f"malformed JSON: {detail}") from None
    except RecursionError:
        raise InvalidSpec("malformed JSON: nested too deeply") from None


def body_operation(schema: dict[str, object]) -> type[Operation]:
    """An Operation class documenting a required JSON body of `schema`."""

    class BodyOperation(Operation):
        def to_schema(self) -> dict[str, Any]:
            document = super().to_schema()
            document["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": schema}},
            }
            return document

    return BodyOperation

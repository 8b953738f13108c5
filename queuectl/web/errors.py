"""Every failure as a JSON error `{"error": "<one line>", ...}` with the right status.

Expected errors (queuectl.errors) map to 4xx/503; Litestar's own (unknown route, bad query
parameter, body too large) keep their status with our body; anything else is a bug: its
traceback goes to the server log, the client gets a 500 with one line and no details.
"""

from __future__ import annotations

import logging
import re

from litestar import Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.types import ExceptionHandlersMap

from queuectl import errors
from queuectl.serialize import Error
from queuectl.web.auth import Denied
from queuectl.web.context import HttpRequest

log = logging.getLogger("queuectl.web")

RETRY_AFTER_SECONDS = 5
# The spec field an error names: msgspec says "at `$.priority`", our rules say "`command`".
_FIELD_AT = re.compile(r"at `\$\.([A-Za-z_]\w*)")
_FIELD_NAMED = re.compile(r"`([A-Za-z_]\w*)`")
_FIELD_UNKNOWN = re.compile(r"unknown field `([A-Za-z_]\w*)`")


_URL_PASSWORD = re.compile(r"(://[^/:@\s]*):[^@\s]*@")
_PARAM_PASSWORD = re.compile(r"(?i)(password\s*=\s*)[^\s&]+")


def scrub(text: str) -> str:
    """Passwords out of any database URL or connection string a message quotes."""
    return _PARAM_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1:***@", text))


def one_line(text: str, limit: int = 500) -> str:
    """Collapse whitespace (no multi-line bodies), drop passwords, keep it short."""
    line = scrub(" ".join(str(text).split()))
    return line if len(line) <= limit else line[: limit - 3] + "..."


ErrorResponse = Response[Error]


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None, field: str | None = None
) -> ErrorResponse:
    body = Error(one_line(message), field)
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def spec_field(message: str) -> str | None:
    """The field an invalid-spec message is about, when it names one."""
    for pattern in (_FIELD_UNKNOWN, _FIELD_AT, _FIELD_NAMED):
        found = pattern.search(message)
        if found:
            return found.group(1)
    return None


def status_of(err: errors.QueueError) -> int:
    """The HTTP status of an expected error, by its family (see queuectl.errors)."""
    if isinstance(err, errors.StoreError):
        return 503
    if isinstance(err, errors.NotFound):
        return 404
    if isinstance(err, errors.Conflict):
        return 409
    if isinstance(err, errors.InvalidSpec):
        return 400 if str(err).startswith("malformed ") else 422
    return 400


def queue_error(request: HttpRequest, err: errors.QueueError) -> ErrorResponse:
    status = status_of(err)
    message = str(err)
    if status == 503:
        path = request.url.path
        log.warning("%s %s: database unavailable: %s", request.method, path, one_line(message))
        return error_response(503, message, {"Retry-After": str(RETRY_AFTER_SECONDS)})
    field = None
    if status == 422 and isinstance(err, errors.InvalidSpec):
        field = err.field or spec_field(message)
    return error_response(status, message, field=field)


_RULES = (" >= ", " <= ", " > ", " < ", "length", "matching regex")


def _breaks_a_rule(reason: str) -> bool:
    """A parameter of the right type outside its bounds (`limit=0`) is invalid, 422; one
    that does not parse (`limit=abc`) is malformed, 400."""
    return any(rule in reason for rule in _RULES)


def http_error(request: HttpRequest, err: HTTPException) -> ErrorResponse:
    status = err.status_code
    if status >= 500:
        return internal_error(request, err)
    message = err.detail or "bad request"
    field = None
    if isinstance(err, ValidationException) and isinstance(err.extra, list) and err.extra:
        first = err.extra[0]
        if isinstance(first, dict):
            key, reason = first.get("key"), first.get("message")
            if first.get("source") == "body" or key is None:
                message = f"invalid request body: {reason or message}"
                status = 422 if "malformed" not in str(reason).lower() else 400
                field = key
            else:
                message = f"invalid parameter {key!r}: {reason}"
                status = 422 if _breaks_a_rule(str(reason)) else 400
                field = key
    elif status == 413:
        message = "request body too large"
    elif isinstance(err.__cause__, SerializationException):  # the body is not JSON
        message = f"malformed JSON: {message}"
    headers = dict(err.headers or {})
    return error_response(status, message, headers, field=field)


def internal_error(request: HttpRequest, err: Exception) -> ErrorResponse:
    """A bug: log its traceback on the server (passwords scrubbed; tokens never reach an
    exception), tell the client one line."""
    import traceback

    trace = scrub("".join(traceback.format_exception(err)))
    log.error("%s %s failed:\n%s", request.method, request.url.path, trace)
    return error_response(500, "internal server error (details in the server log)")


def denied(request: HttpRequest, err: Denied) -> ErrorResponse:
    """A guard refusal raised inside a route (the login throttle)."""
    return error_response(err.status, err.message, err.headers)


def too_deep(request: HttpRequest, err: RecursionError) -> ErrorResponse:
    """msgspec refuses JSON nested past Python's recursion limit with RecursionError."""
    return error_response(400, "malformed JSON: nested too deeply")


HANDLERS: ExceptionHandlersMap = {
    Denied: denied,
    RecursionError: too_deep,
    errors.QueueError: queue_error,
    HTTPException: http_error,
    Exception: internal_error,
}

"""Outside /api's resources: /healthz, /metrics, /openapi.json, login, /api/events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

import msgspec
from litestar import MediaType, Response, get, post
from litestar.concurrency import sync_to_thread
from litestar.datastructures import Cookie
from litestar.response import Redirect, Stream

from queuectl import serialize, service
from queuectl.web.auth import CSRF_COOKIE, same_secret
from queuectl.web.context import HttpRequest, in_thread, server, store
from queuectl.web.errors import error_response
from queuectl.web.hub import Snapshot
from queuectl.web.output import SSE_HEADERS
from queuectl.web.sessions import SESSION_SECONDS
from queuectl.web.shapes import Workers

if TYPE_CHECKING:
    from queuectl.store.base import Store

METRICS_TYPE = "text/plain; version=0.0.4"  # Litestar adds "; charset=utf-8"


class Ok(msgspec.Struct):
    """`{"ok": true}`: /healthz, and a login asked for in JSON."""

    ok: bool = True


@get("/healthz", include_in_schema=False)
@in_thread
def healthz(request: HttpRequest) -> Ok:
    """200 when the database answers (else 503 through the error mapping). Public off
    loopback, so it names no versions."""
    service.ping(store(request))
    return Ok()


@get("/metrics", media_type=METRICS_TYPE, summary="Prometheus metrics (text exposition format)")
@in_thread
def metrics(request: HttpRequest) -> str:
    from queuectl.service import observe

    return observe.metrics_text(store(request))


@get("/openapi.json", include_in_schema=False, sync_to_thread=False)
def openapi_json(request: HttpRequest) -> Response[dict[str, object]]:
    return Response(request.app.openapi_schema.to_schema(), media_type=MediaType.JSON)


def _safe_next(target: str | None) -> str:
    """Only a local path: `//evil.example` or a full URL would make an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


MAX_LOGIN_BYTES = 4096  # a token and a `next` path: the form is parsed before any check
MAX_LOGIN_FIELDS = 4


async def _bounded_body(request: HttpRequest, limit: int) -> bytes:
    """The body, refused (413) as soon as it passes `limit`: an unauthenticated client
    must not make the server buffer or parse megabytes."""
    from litestar.exceptions import HTTPException

    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(status_code=413, detail="request body too large")
        chunks.append(chunk)
    return b"".join(chunks)


async def _login_fields(request: HttpRequest) -> tuple[dict[str, str], bool]:
    from queuectl.errors import InvalidSpec

    body = (await _bounded_body(request, MAX_LOGIN_BYTES)).decode("utf-8", "replace")
    content_type = request.headers.get("content-type", "")
    if "json" in content_type:
        import msgspec

        try:
            data = msgspec.json.decode(body)
        except (msgspec.DecodeError, RecursionError):
            raise InvalidSpec("malformed JSON: the body is not a JSON object") from None
        if not isinstance(data, dict):
            raise InvalidSpec("malformed JSON: the body is not a JSON object")
        return {k: v for k, v in data.items() if isinstance(v, str)}, True
    try:
        fields = parse_qs(body, max_num_fields=MAX_LOGIN_FIELDS)
    except ValueError:
        raise InvalidSpec("malformed form: too many fields") from None
    return {k: v[0] for k, v in fields.items()}, False


@post("/login", include_in_schema=False, status_code=303)
async def login(request: HttpRequest) -> Response[Ok] | Response[serialize.Error] | Redirect:
    """The dashboard's form: a right token starts a session (an HttpOnly cookie holding a
    random id, never the token) with its CSRF secret in a cookie the page reads, then goes
    to `next`. Wrong tokens are throttled per client address."""
    guard = server(request).guard
    client = request.client.host if request.client else None
    guard.check_throttle(client)
    fields, wants_json = await _login_fields(request)
    token = server(request).settings.token
    if token is None:  # nothing to log in to: every loopback client may act
        if wants_json:
            return Response(Ok())
        return Redirect(_safe_next(fields.get("next")), status_code=303)
    if not same_secret(fields.get("token", ""), token):
        guard.throttle.failed(client or "?")
        if wants_json:
            return error_response(401, "wrong token")
        return Redirect("/login?error=1", status_code=303)
    session_id, session = guard.sessions.create()
    secure = guard.is_secure(request.scope.get("scheme", "http"))
    cookies = [
        Cookie(
            key=guard.session_cookie(secure),
            value=session_id,
            path="/",
            samesite="strict",
            httponly=True,
            secure=secure,
            max_age=int(SESSION_SECONDS),
        ),
        Cookie(
            key=CSRF_COOKIE,
            value=session.csrf,
            path="/",
            samesite="strict",
            httponly=False,
            secure=secure,
            max_age=int(SESSION_SECONDS),
        ),
    ]
    if wants_json:
        return Response(Ok(), cookies=cookies)
    return Redirect(_safe_next(fields.get("next")), status_code=303, cookies=cookies)


@post("/logout", include_in_schema=False, status_code=303)
async def logout(request: HttpRequest) -> Redirect:
    """Ends the session on the server (its id is worthless from now on) and clears the
    cookies."""
    guard = server(request).guard
    secure = guard.is_secure(request.scope.get("scheme", "http"))
    found = guard.session_of(dict(request.headers), secure)
    if found is not None:
        guard.sessions.revoke(found[0])
    cookies = [
        Cookie(key=name, value="", path="/", max_age=0, samesite="strict", secure=secure)
        for name in (guard.session_cookie(secure), CSRF_COOKIE)
    ]
    return Redirect("/login", status_code=303, cookies=cookies)


def snapshot(the_store: Store) -> Snapshot:
    """What /api/events publishes: computed once per change for every client."""
    status = serialize.Status.of(service.status(the_store))
    return {"status": status, "workers": Workers(status.workers)}


@get(
    "/api/events",
    summary="Server-sent events: status, jobs (a hint to refetch), workers; a ping every 15 s",
)
async def events(request: HttpRequest) -> Stream:
    from queuectl.web.hub import sse_message

    this = server(request)
    client = request.client.host if request.client else "?"
    this.event_streams.take(client)
    try:
        first = this.hub.latest()
        if not first:  # nothing published yet: this client's first snapshot is its own
            stores = this.stores
            data = await sync_to_thread(lambda: snapshot(stores.get()))
            first = [sse_message(name, value) for name, value in data.items()]
    except BaseException:
        this.event_streams.release(client)
        raise
    stream = _released(this.hub.stream(first), lambda: this.event_streams.release(client))
    return Stream(stream, media_type="text/event-stream", headers=SSE_HEADERS)


async def _released(
    stream: AsyncIterator[bytes], release: Callable[[], None]
) -> AsyncIterator[bytes]:
    """`stream`, calling `release` once it ends for any reason (the client went away)."""
    try:
        async for message in stream:
            yield message
    finally:
        release()


HANDLERS = [healthz, metrics, openapi_json, login, logout, events]

"""Outside /api's resources: /healthz, /metrics, /openapi.json, /docs, login, /api/events."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import parse_qs

from litestar import MediaType, Request, Response, get, post
from litestar.concurrency import sync_to_thread
from litestar.datastructures import Cookie
from litestar.response import Redirect, Stream

from queuectl import serialize, service
from queuectl.web.auth import CSRF_COOKIE, TOKEN_COOKIE, same_secret
from queuectl.web.context import in_thread, server, store
from queuectl.web.errors import error_response
from queuectl.web.hub import Snapshot
from queuectl.web.output import SSE_HEADERS

METRICS_TYPE = "text/plain; version=0.0.4"  # Litestar adds "; charset=utf-8"
COOKIE_MAX_AGE = 7 * 86_400


@get("/healthz", include_in_schema=False)
@in_thread
def healthz(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """200 when the database answers (else 503 through the error mapping). Public off
    loopback, so it names no versions."""
    service.ping(store(request))
    return {"ok": True}


@get("/metrics", media_type=METRICS_TYPE, summary="Prometheus metrics (text exposition format)")
@in_thread
def metrics(request: Request[Any, Any, Any]) -> str:
    from queuectl.service import observe

    return observe.metrics_text(store(request))


@get("/openapi.json", include_in_schema=False, sync_to_thread=False)
def openapi_json(request: Request[Any, Any, Any]) -> Response[Any]:
    return Response(request.app.openapi_schema.to_schema(), media_type=MediaType.JSON)


@get("/docs", include_in_schema=False, sync_to_thread=False)
def docs() -> Redirect:
    return Redirect("/schema/swagger")


def _safe_next(target: str | None) -> str:
    """Only a local path: `//evil.example` or a full URL would make an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def _login_fields(request: Request[Any, Any, Any]) -> tuple[dict[str, str], bool]:
    body = (await request.body()).decode("utf-8", "replace")
    content_type = request.headers.get("content-type", "")
    if "json" in content_type:
        import msgspec

        try:
            data = msgspec.json.decode(body)
        except msgspec.DecodeError:
            data = {}
        fields = {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}
        return fields, True
    return {k: v[0] for k, v in parse_qs(body).items()}, False


@post("/login", include_in_schema=False, status_code=303)
async def login(request: Request[Any, Any, Any]) -> Response[Any]:
    """The dashboard's form: a right token sets the HttpOnly token cookie and the CSRF
    cookie (double submit), then goes to `next`."""
    fields, wants_json = await _login_fields(request)
    token = server(request).settings.token
    given = fields.get("token", "")
    if token is not None and not same_secret(given, token):
        if wants_json:
            return error_response(401, "wrong token")
        return Redirect("/login?error=1", status_code=303)
    cookies = [
        Cookie(
            key=CSRF_COOKIE,
            value=secrets.token_urlsafe(24),
            path="/",
            samesite="strict",
            httponly=False,
            max_age=COOKIE_MAX_AGE,
        )
    ]
    if token is not None:
        cookies.append(
            Cookie(
                key=TOKEN_COOKIE,
                value=token,
                path="/",
                samesite="strict",
                httponly=True,
                max_age=COOKIE_MAX_AGE,
            )
        )
    if wants_json:
        return Response({"ok": True}, cookies=cookies)
    return Redirect(_safe_next(fields.get("next")), status_code=303, cookies=cookies)


@post("/logout", include_in_schema=False, status_code=303)
async def logout() -> Response[Any]:
    cookies = [
        Cookie(key=name, value="", path="/", max_age=0, samesite="strict")
        for name in (TOKEN_COOKIE, CSRF_COOKIE)
    ]
    return Redirect("/login", status_code=303, cookies=cookies)


def snapshot(the_store: Any) -> Snapshot:
    """What /api/events publishes: computed once per change for every client."""
    status = serialize.status_dict(service.status(the_store))
    return {"status": status, "workers": {"workers": status["workers"]}}


@get(
    "/api/events",
    summary="Server-sent events: status, jobs (a hint to refetch), workers; a ping every 15 s",
)
async def events(request: Request[Any, Any, Any]) -> Stream:
    from queuectl.web.hub import sse_message

    hub = server(request).hub
    first = hub.latest()
    if not first:  # nothing published yet: this client's first snapshot is its own
        stores = server(request).stores
        data = await sync_to_thread(lambda: snapshot(stores.get()))
        first = [sse_message(name, value) for name, value in data.items()]
    return Stream(hub.stream(first), media_type="text/event-stream", headers=SSE_HEADERS)


HANDLERS = [healthz, metrics, openapi_json, docs, login, logout, events]

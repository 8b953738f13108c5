"""Litestar handlers for the dashboard pages and their two static files."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import PurePosixPath
from urllib.parse import quote

from litestar import Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect

from queuectl.web.context import HttpRequest, server
from queuectl.web.csp import PAGE_HEADERS
from queuectl.web.dashboard import shells
from queuectl.web.dashboard.shell_schedules import SCHEDULES
from queuectl.web.paths import job_id_from_path

MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css"}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str


@cache
def _assets() -> dict[str, Asset]:
    """The script modules and the style sheet in static/, by file name."""
    folder = resources.files("queuectl.web.dashboard") / "static"
    found = {}
    for item in sorted(folder.iterdir(), key=lambda item: item.name):
        media = MEDIA_TYPES.get(PurePosixPath(item.name).suffix)
        if media is not None:
            found[item.name] = Asset(item.read_bytes(), media)
    return found


@cache
def _version() -> str:
    """A content hash of every asset, the folder of their URLs (/static/<hash>/app.js),
    so browsers may cache them for good and the modules' relative imports stay on one
    version."""
    digest = hashlib.sha256()
    for asset in _assets().values():
        digest.update(asset.body)
    return digest.hexdigest()[:12]


def _needs_login(request: HttpRequest) -> bool:
    """With a token configured, a browser without the cookie is sent to the login form.
    (The API lets loopback reads through without it, but the page's actions need it.)"""
    token = server(request).settings.token
    return token is not None and request.scope.get("state", {}).get("queuectl_auth") == "none"


def _page(
    request: HttpRequest, title: str, page: str, body: str, data: str = ""
) -> Response[str] | Redirect:
    if _needs_login(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Redirect(f"/login?next={quote(target, safe='')}", status_code=303)
    html = shells.layout(title, page, body, _version(), data)
    return Response(html, media_type="text/html", headers=PAGE_HEADERS)


@get("/", include_in_schema=False, sync_to_thread=False)
def overview(request: HttpRequest) -> Response[str] | Redirect:
    return _page(request, "Overview", "overview", shells.OVERVIEW)


@get("/jobs", include_in_schema=False, sync_to_thread=False)
def jobs(request: HttpRequest) -> Response[str] | Redirect:
    return _page(request, "Jobs", "jobs", shells.JOBS)


@get("/jobs/{job_id:str}", include_in_schema=False, sync_to_thread=False)
def job(request: HttpRequest, job_id: FromPath[str]) -> Response[str] | Redirect:
    from html import escape

    job_id = job_id_from_path(job_id)
    data = f' data-job-id="{escape(job_id)}"'
    return _page(request, f"Job {job_id}", "job", shells.job_page(job_id), data)


@get("/jobs/{job_id:str}/graph", include_in_schema=False, sync_to_thread=False)
def graph(request: HttpRequest, job_id: FromPath[str]) -> Response[str] | Redirect:
    from html import escape

    job_id = job_id_from_path(job_id)
    data = f' data-job-id="{escape(job_id)}"'
    return _page(request, f"Workflow of {job_id}", "graph", shells.graph_page(job_id), data)


@get("/queues", include_in_schema=False, sync_to_thread=False)
def queues(request: HttpRequest) -> Response[str] | Redirect:
    return _page(request, "Queues", "queues", shells.QUEUES)


@get("/schedules", include_in_schema=False, sync_to_thread=False)
def schedules(request: HttpRequest) -> Response[str] | Redirect:
    return _page(request, "Schedules", "schedules", SCHEDULES)


@get("/dlq", include_in_schema=False, sync_to_thread=False)
def dlq(request: HttpRequest) -> Response[str] | Redirect:
    return _page(request, "Dead letter queue", "dlq", shells.DLQ)


@get("/workers", include_in_schema=False, sync_to_thread=False)
def workers(request: HttpRequest) -> Response[str] | Redirect:
    return _page(request, "Workers", "workers", shells.WORKERS)


@get("/enqueue", include_in_schema=False, sync_to_thread=False)
def enqueue(request: HttpRequest) -> Response[str] | Redirect:
    return _page(request, "Enqueue", "enqueue", shells.ENQUEUE)


@get("/config", include_in_schema=False, sync_to_thread=False)
def config(request: HttpRequest) -> Response[str] | Redirect:
    return _page(request, "Configuration", "config", shells.CONFIG)


@get("/login", include_in_schema=False, sync_to_thread=False)
def login(request: HttpRequest) -> Response[str]:
    next_path = request.query_params.get("next") or "/"
    if not next_path.startswith("/") or next_path.startswith("//"):
        next_path = "/"
    failed = request.query_params.get("error") is not None
    html = shells.layout("Sign in", "login", shells.login(next_path, failed), _version())
    return Response(html, media_type="text/html", headers=PAGE_HEADERS)


@get("/static/{version:str}/{name:str}", include_in_schema=False, sync_to_thread=False)
def static(version: FromPath[str], name: FromPath[str]) -> Response[bytes]:
    """The asset as this server has it, whatever `version` asked (it only keys caches)."""
    asset = _assets().get(name)
    if asset is None:
        raise NotFoundException(f"no static file {name!r}")
    headers = {
        "Cache-Control": "public, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff",
    }
    return Response(asset.body, media_type=asset.media_type, headers=headers)


HANDLERS = (
    overview,
    jobs,
    job,
    graph,
    queues,
    schedules,
    dlq,
    workers,
    enqueue,
    config,
    login,
    static,
)

"""The one ASGI app of `queuectl serve`: REST API under /api, tool 000's routes, the
dashboard, /metrics, /healthz and the OpenAPI schema, behind the auth middleware."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, cast

from litestar import Litestar
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin

from queuectl import __version__
from queuectl.housekeeping import Housekeeper
from queuectl.web import (
    docs,
    errors,
    legacy,
    routes_admin,
    routes_jobs,
    routes_limits,
    routes_schedules,
    routes_system,
    routes_workflows,
    shapes,
)
from queuectl.web.auth import Guard, guarded
from queuectl.web.context import Server
from queuectl.web.hub import EventHub
from queuectl.web.paths import keep_encoded_slashes
from queuectl.web.settings import ServeSettings
from queuectl.web.stores import ThreadStores

if TYPE_CHECKING:
    from litestar.handlers import HTTPRouteHandler
    from litestar.types import (
        HTTPScope,
        LifeSpanReceive,
        LifeSpanScope,
        LifeSpanSend,
        Message,
        Receive,
        Scope,
        Send,
    )


def dashboard_handlers() -> list[HTTPRouteHandler]:
    """The dashboard's pages and assets, when queuectl.web.dashboard is present."""
    if importlib.util.find_spec("queuectl.web.dashboard") is None:
        return []
    from queuectl.web import dashboard

    return dashboard.route_handlers()


class QueuectlApp(Litestar):
    """Every HTTP request passes the guard (queuectl.web.auth) before Litestar routes it,
    unknown paths included; Litestar routes on the decoded path, so ids with `/` need the
    encoded one kept."""

    guard: Guard

    async def __call__(
        self,
        scope: Scope | LifeSpanScope,
        receive: Receive | LifeSpanReceive,
        send: Send | LifeSpanSend,
    ) -> None:
        if scope["type"] != ScopeType.HTTP:
            await super().__call__(scope, receive, send)
            return
        # An HTTP scope, which comes with HTTP's receive and send (mypy cannot tell).
        http_scope, http_send = cast("HTTPScope", scope), cast("Send", send)
        keep_encoded_slashes(http_scope)
        if http_scope["method"] == "OPTIONS":
            http_send = self._with_full_allow(http_scope, http_send)
        await guarded(self.guard, http_scope, cast("Receive", receive), http_send, super().__call__)

    def _with_full_allow(self, scope: HTTPScope, send: Send) -> Send:
        """Litestar's automatic OPTIONS answer lists only the methods its path had when
        the first handler was added (GET /api/jobs/{id} without DELETE): name them all."""
        if not hasattr(self, "_methods"):
            self._methods: dict[str, set[str]] = {}
            for route in self.routes:
                self._methods.setdefault(route.path, set()).update(getattr(route, "methods", ()))

        async def send_with_allow(message: Message) -> None:
            handler = scope.get("route_handler")
            if message["type"] == "http.response.start" and handler is not None:
                methods = set().union(*(self._methods.get(p, set()) for p in handler.paths))
                if methods:
                    allow = ", ".join(sorted(methods)).encode()
                    headers = [
                        (k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"
                    ]
                    message["headers"] = [*headers, (b"allow", allow)]
            await send(message)

        return send_with_allow


def create_app(settings: ServeSettings, stores: ThreadStores | None = None) -> Litestar:
    """Build the app; opens (and migrates) the store now, so a bad --db fails at start."""
    stores = stores or ThreadStores(settings.db)
    hub = EventHub(stores.open_extra, routes_system.snapshot)
    guard = Guard(settings)
    server = Server(settings, stores, hub, guard)

    chores = Housekeeper(stores.url, name="serve-housekeeping")  # schedules, retention

    def startup() -> None:
        chores.start()

    def shutdown() -> None:
        chores.stop()
        hub.stop()
        stores.close()

    resources = [
        *routes_jobs.HANDLERS,
        *routes_workflows.HANDLERS,
        *routes_admin.HANDLERS,
        *routes_schedules.HANDLERS,
        *routes_limits.HANDLERS,
    ]
    api = [*resources, *routes_system.HANDLERS]
    for handler in api:  # operation ids: the function names (`list_jobs`, `dlq_retry`)
        handler.operation_id = handler.operation_id or handler.handler_name
    for handler in resources:
        # A resource's success response is its handler's return type: a JSON shape.
        handler.response_description = handler.response_description or shapes.SUCCESS
    app = QueuectlApp(
        route_handlers=[*api, *legacy.HANDLERS, *docs.HANDLERS, *dashboard_handlers()],
        exception_handlers=errors.HANDLERS,
        openapi_config=OpenAPIConfig(
            title="queuectl",
            version=__version__,
            description="A durable job queue for shell commands: the REST API of "
            '`queuectl serve`. Errors are JSON `{"error": "..."}`.',
            path="/schema",
            render_plugins=[JsonRenderPlugin()],
            security=[{"bearer": []}, {"session": []}, {}],
            components=docs.security_components(),
        ),
        request_max_body_size=settings.max_body,
        state=_state(server),
        on_startup=[startup],
        on_shutdown=[shutdown],
        debug=False,
    )
    app.guard = guard
    return app


def _state(server: Server) -> State:
    return State({"queuectl": server})

"""The web dashboard: HTML page shells and their static CSS and script modules.

The pages hold no data; the scripts fetch everything from the REST API under /api and
follow /api/events, so the dashboard can do nothing the API cannot. The app mounts it
with `route_handlers()`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from litestar.handlers import HTTPRouteHandler


def route_handlers() -> list[HTTPRouteHandler]:
    """The page and static-file handlers for `Litestar(route_handlers=...)`."""
    from queuectl.web.dashboard.routes import HANDLERS

    return list(HANDLERS)

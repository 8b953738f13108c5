"""What every route reaches through `request.app.state`: the settings, the per-thread
stores and the event hub of this server process."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from litestar import Request
from litestar.datastructures import State

if TYPE_CHECKING:
    from queuectl.store.base import Store
    from queuectl.web.auth import Guard
    from queuectl.web.hub import EventHub
    from queuectl.web.settings import ServeSettings
    from queuectl.web.stores import ThreadStores


P = ParamSpec("P")
# Event streams cost no thread (one snapshot feeds them all), only a connection each.
MAX_EVENT_STREAMS = 800  # of the 1000 connections the server takes
MAX_EVENT_STREAMS_PER_CLIENT = 128  # a proxy in front is one client
R = TypeVar("R")
# A request as every handler sees it: the guard (queuectl.web.auth) checks it before
# Litestar routes it, so Litestar's own user and auth slots stay empty.
HttpRequest = Request[None, None, State]


class Server:
    """The state of one `queuectl serve` process."""

    def __init__(
        self, settings: ServeSettings, stores: ThreadStores, hub: EventHub, guard: Guard
    ) -> None:
        self.settings = settings
        self.stores = stores
        self.hub = hub
        self.guard = guard
        from queuectl.web.output import MAX_FOLLOWERS, MAX_FOLLOWERS_PER_CLIENT
        from queuectl.web.slots import ClientSlots

        self.followers = ClientSlots(MAX_FOLLOWERS, MAX_FOLLOWERS_PER_CLIENT, "live output streams")
        self.event_streams = ClientSlots(
            MAX_EVENT_STREAMS, MAX_EVENT_STREAMS_PER_CLIENT, "event streams"
        )


def server(request: HttpRequest) -> Server:
    found: Server = request.app.state["queuectl"]
    return found


def store(request: HttpRequest) -> Store:
    """This thread's store (call from a sync handler, which runs in a worker thread)."""
    return server(request).stores.get()


def in_thread(fn: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """Run a blocking handler in a worker thread (anyio's pool), as an async handler.

    Litestar's own `sync_to_thread=True` wraps a handler twice when several share a path
    (2.25), so the handlers do it themselves; a slow client never reaches here before its
    request is complete, so it cannot pin a thread."""

    @functools.wraps(fn)
    async def threaded(*args: P.args, **kwargs: P.kwargs) -> R:
        import anyio.to_thread

        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))

    return threaded

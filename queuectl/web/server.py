"""Run the app under uvicorn with the limits `queuectl serve` promises.

- Bodies over ServeSettings.max_body get 413 (Litestar counts the bytes as they arrive).
- A slow client costs a socket, never a worker thread: bodies are read on the event loop
  and sync handlers run only once a request is complete. Its socket is bounded too: the
  request line and headers must arrive within HEADERS_SECONDS, a body that stalls for
  BODY_IDLE_SECONDS is dropped (queuectl.web.protocol), idle keep-alive connections
  close after KEEP_ALIVE_SECONDS; headers over 16 KiB get 431; at most MAX_CONNECTIONS
  connections at once (more get 503).
"""

from __future__ import annotations

import logging
import signal
import sys
from typing import TYPE_CHECKING, Any

from queuectl.web.settings import KEEP_ALIVE_SECONDS, MAX_HEADER_BYTES, ServeSettings, masked_url

if TYPE_CHECKING:
    import uvicorn
    from litestar.types import ASGIApp

MAX_CONNECTIONS = 1000
SHUTDOWN_GRACE_SECONDS = 3  # event streams never end on their own


def run(settings: ServeSettings) -> None:
    import uvicorn

    from queuectl.web.app import create_app
    from queuectl.web.stores import ThreadStores

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s: %(message)s")
    stores = ThreadStores(settings.db)  # opens and migrates: a bad --db fails here
    app = create_app(settings, stores)
    auth = "token required for changes" if settings.token else "no token (loopback only)"
    mode = ", read-only" if settings.read_only else ""
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    print(
        f"queuectl serve: http://{host}:{settings.port}  database: {masked_url(stores.url)}  "
        f"auth: {auth}{mode}",
        file=sys.stderr,
        flush=True,
    )
    config = uvicorn_config(app, settings)
    # uvicorn stops gracefully on SIGTERM/SIGINT, then re-raises the signal to the handler
    # that was there before it: make that a clean exit 0, as a worker's graceful stop is.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_cleanly)
    uvicorn.Server(config).run()


def uvicorn_config(app: ASGIApp, settings: ServeSettings, **overrides: Any) -> uvicorn.Config:
    """The uvicorn settings of `queuectl serve` (the tests serve with the same)."""
    import uvicorn

    from queuectl.web.protocol import GuardedH11Protocol

    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "http": GuardedH11Protocol,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "timeout_graceful_shutdown": SHUTDOWN_GRACE_SECONDS,
        "limit_concurrency": MAX_CONNECTIONS,
        "server_header": False,
        "lifespan": "on",
        "log_level": "info",
    }
    return uvicorn.Config(app, **{**options, **overrides})


def _exit_cleanly(signum: int, frame: object) -> None:
    sys.exit(0)

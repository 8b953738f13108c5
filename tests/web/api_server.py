"""A real `queuectl serve` app under a real uvicorn, in a thread, on a free 127.0.0.1 port
(or another local address), for the API tests; plus small SSE reading helpers."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from queuectl.web.app import create_app
from queuectl.web.server import uvicorn_config
from queuectl.web.settings import ServeSettings
from tests.helpers import wait_for


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class Running:
    """A served app: its base URL, an httpx client on it, and the app itself."""

    def __init__(self, app: Any, base_url: str, settings: ServeSettings) -> None:
        self.app = app
        self.base_url = base_url
        self.settings = settings
        self.client = httpx.Client(base_url=base_url, timeout=30)

    @property
    def hub(self) -> Any:
        return self.app.state["queuectl"].hub


@contextmanager
def serving(db: str, host: str = "127.0.0.1", **options: Any) -> Iterator[Running]:
    settings = ServeSettings(db=db, host=host, port=free_port(host), **options)
    app = create_app(settings)
    config = uvicorn_config(app, settings, log_level="warning", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive(), 30, "uvicorn to start")
    assert server.started, "uvicorn did not start"
    shown = f"[{host}]" if ":" in host else host
    running = Running(app, f"http://{shown}:{settings.port}", settings)
    try:
        yield running
    finally:
        running.client.close()
        server.should_exit = True
        thread.join(30)


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """(event, data) pairs from a text/event-stream's lines; comments as ("", ": ...")."""
    event = "message"
    data: list[str] = []
    for line in lines:
        if line.startswith(":"):
            yield "", line
            continue
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)

"""A job's output over HTTP: the whole tail, or followed live as server-sent events.

Following runs observe's `follow_output` (a blocking iterator that polls the store) in a
thread of its own with its own store, and hands each chunk to the response through an
asyncio queue. The stream ends with an `end` event when the attempt ends; when the client
goes away the thread stops at once, even while the job has not started yet.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

from queuectl.serialize import Error, Output
from queuectl.web.context import Server
from queuectl.web.hub import PING, PING_SECONDS, sse_message

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
POLL_SECONDS = 0.5
MAX_FOLLOWERS = 64  # threads (and connections) a server spends on live output at most
MAX_FOLLOWERS_PER_CLIENT = 8  # ... and one client address at most


async def whole(server: Server, job_id: str, attempt: int | None) -> Output:
    from litestar.concurrency import sync_to_thread

    from queuectl.service import observe

    def work() -> Output:
        return Output.of(observe.attempt_output(server.stores.get(), job_id, attempt))

    return await sync_to_thread(work)


async def start_follow(
    server: Server, client: str, job_id: str, attempt: int | None
) -> AsyncIterator[bytes]:
    """Check the job and attempt exist (so a bad id is a 404, not an empty stream), then
    return the event stream, which holds one of the server's follower slots (and of its
    client's) until it ends."""
    from litestar.concurrency import sync_to_thread

    from queuectl.service import observe

    await sync_to_thread(observe.attempt_output, server.stores.get(), job_id, attempt)
    server.followers.take(client)
    return _stream(server, client, job_id, attempt)


async def _stream(
    server: Server, client: str, job_id: str, attempt: int | None
) -> AsyncIterator[bytes]:
    # Unbounded, but fed at the poll rate with capped tails: a slow client costs little.
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    gone = threading.Event()
    feeder = _Feeder(server, client, job_id, attempt, queue, gone)
    threading.Thread(target=feeder.run, name=f"queuectl-follow-{job_id}", daemon=True).start()
    try:
        while True:
            try:
                message = await asyncio.wait_for(queue.get(), PING_SECONDS)
            except TimeoutError:
                yield PING
                continue
            if message is None:
                return
            yield message
    finally:
        gone.set()


class _ClientGone(Exception):
    """The follower's client disconnected: stop polling."""


class _Feeder:
    """The thread side of one followed output: observe's iterator into the queue."""

    def __init__(
        self,
        server: Server,
        client: str,
        job_id: str,
        attempt: int | None,
        queue: asyncio.Queue[bytes | None],
        gone: threading.Event,
    ) -> None:
        self.server = server
        self.client = client
        self.job_id = job_id
        self.attempt = attempt
        self.queue = queue
        self.gone = gone
        self.loop = asyncio.get_running_loop()

    def put(self, item: bytes | None) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the loop closed: the server is stopping
            self.gone.set()

    def _pause(self, seconds: float) -> None:
        """Between polls: returns at once, by raising, when the client has gone."""
        if self.gone.wait(seconds):
            raise _ClientGone

    def run(self) -> None:
        from queuectl.service import observe

        store = None
        try:
            store = self.server.stores.open_extra()
            items = observe.follow_output(
                store, self.job_id, self.attempt, POLL_SECONDS, wait=self._pause
            )
            for item in items:
                if self.gone.is_set():
                    return
                if isinstance(item, observe.End):
                    end = {"exit_code": item.exit_code, "state": item.state.value}
                    self.put(sse_message("end", {**end, "error": item.error}))
                    return
                self.put(sse_message(item.stream, item.data.decode("utf-8", "replace")))
        except _ClientGone:
            pass
        except Exception as err:
            if not self.gone.is_set():
                self.put(sse_message("error", Error(" ".join(str(err).split()))))
        finally:
            if store is not None:
                store.close()
            self.server.followers.release(self.client)
            if not self.gone.is_set():
                self.put(None)

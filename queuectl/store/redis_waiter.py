"""Wake an idle worker on Redis: SUBSCRIBE on a connection of its own.

Every script that makes a job claimable, or gives a worker orders, PUBLISHes on the
queue's channel (`<prefix>wake`). Pub/sub keeps nothing for a subscriber that is away:
after a lost connection the waiter reports a change (one may have been missed), and a
notification lost otherwise costs at most the worker's fallback poll.
"""

from __future__ import annotations

import time

import redis

from queuectl.errors import StoreError, StoreUnavailable
from queuectl.store.redis_client import connect, redacted_url, translate_error

SUBSCRIBE_TIMEOUT_S = 10.0


class RedisChangeWaiter:
    """Sleeps in SUBSCRIBE: wakes within a millisecond of a PUBLISH, costs nothing idle."""

    def __init__(self, url: str, channel: str) -> None:
        self._url = url
        self._channel = channel
        self._client = connect(url)
        self._pubsub: redis.client.PubSub | None = None
        self._subscribe()

    def _subscribe(self) -> None:
        """Subscribe and wait for the server to confirm, so that any change published
        from now on reaches us (even one made before the first `wait`)."""
        pubsub = self._client.pubsub()
        try:
            pubsub.subscribe(self._channel)
            deadline = time.monotonic() + SUBSCRIBE_TIMEOUT_S
            while (remaining := deadline - time.monotonic()) > 0:
                message = pubsub.get_message(timeout=remaining)
                if message is not None and message["type"] == "subscribe":
                    self._pubsub = pubsub
                    return
        except redis.RedisError as err:
            pubsub.close()
            raise translate_error(err, redacted_url(self._url)) from None
        pubsub.close()
        raise StoreUnavailable(f"Redis at {redacted_url(self._url)} did not confirm SUBSCRIBE")

    def wait(self, timeout: float) -> bool:
        if self._pubsub is None:
            try:
                self._subscribe()
            except StoreError:
                time.sleep(max(0.0, timeout))  # the server is away: the caller polls
                return False
            return True  # changes may have been published while we were away
        try:
            deadline = time.monotonic() + timeout
            while True:
                message = self._pubsub.get_message(timeout=max(0.0, deadline - time.monotonic()))
                if message is not None and message["type"] == "message":
                    while self._pubsub.get_message(timeout=0) is not None:
                        pass  # one wake-up answers them all
                    return True
                if message is None and time.monotonic() >= deadline:
                    return False
        except redis.RedisError:  # lost the connection: subscribe again on the next wait
            self._pubsub.close()
            self._pubsub = None
            return True

    def fileno(self) -> int | None:
        """The subscribed connection's socket: readable when a message arrives."""
        connection = None if self._pubsub is None else self._pubsub.connection
        sock = None if connection is None else getattr(connection, "_sock", None)
        return None if sock is None else int(sock.fileno())

    def look_again_at(self) -> float | None:
        return None  # a change it is told of is visible already

    def close(self) -> None:
        if self._pubsub is not None:
            self._pubsub.close()
            self._pubsub = None
        self._client.close()

"""What a worker does while its store is unreachable.

Each step of the loop needs the store; one that fails is logged and tried again on a
later turn, with backoff, while running jobs go on (their results wait in memory:
results.py). A long-running worker outlasts any outage. A burst run gives up after two
leases of failures without a break, and a store gone for good (StoreGone) ends the
worker at once: either way the worker has `abandoned` the store and shuts down without
it. After an outage, the other workers may have been cut off too: a worker gives them
one lease to renew theirs before it calls their jobs lost (`cut_off_within`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from queuectl.errors import StoreError, StoreGone
from queuectl.results import MAX_STORE_BACKOFF_S

log = logging.getLogger("queuectl.worker")


class StoreOutage:
    """The store's failures as the worker sees them, and what they call for."""

    def __init__(self, burst: bool, lease_seconds: Callable[[], float]) -> None:
        self.burst = burst  # a burst run must end: it gives up (see check_patience)
        self.lease_seconds = lease_seconds  # the worker's settings, as they change
        self.backoff = 0.0  # the loop's pause after a failed turn
        self.last_failure = -1e9  # monotonic time of the last store failure
        self.failing_since: float | None = None  # store failing every step since then
        self.last_error = ""
        self.abandoned = False  # gave up on the store: shut down without it

    def attempt(self, action: Callable[[], object]) -> bool:
        """Run one step; False when the store is down or busy (logged; retried next turn).
        A store that is gone for good (StoreGone) ends the worker."""
        try:
            action()
        except StoreGone:
            self.abandoned = True
            raise
        except StoreError as err:
            log.warning("database unavailable (%s); retrying", err)
            self.last_failure = time.monotonic()
            if self.failing_since is None:
                self.failing_since = self.last_failure
            self.last_error = str(err)
            return False
        self.backoff = 0.0
        self.failing_since = None
        return True

    def next_pause(self) -> float:
        """After a turn with a failed step: how long to pause, longer each time."""
        self.backoff = min(max(self.backoff * 2, 0.1), MAX_STORE_BACKOFF_S)
        return self.backoff

    def store_back(self) -> None:
        """The store answers again (the change waiter connected again): a step that still
        fails (a connection that broke in the outage) is tried again soon, the backoff
        started afresh."""
        self.backoff = 0.0

    def check_patience(self) -> None:
        """A long-running worker outlasts any outage; a burst run must end. It gives up
        once the store has failed it for two leases without a break (a minute by
        default), by then its claims are anyone's again."""
        if not self.burst or self.failing_since is None:
            return
        failing = time.monotonic() - self.failing_since
        if failing >= 2 * self.lease_seconds():
            self.abandoned = True
            raise StoreError(
                f"burst run gave up: the database failed every write for {failing:.0f}s "
                f"({self.last_error})"
            )

    def until_stored(
        self,
        what: str,
        action: Callable[[], object],
        pause: Callable[[float], None],
        give_up: Callable[[], bool],
    ) -> None:
        """Retry `action` with backoff until the store takes it (start-up), pausing with
        `pause`; a failure re-raised once `give_up()` says so (a cold stop asked)."""
        delay = 0.1
        while True:
            try:
                action()
                self.failing_since = None
                return
            except StoreGone:
                raise
            except StoreError as err:
                if give_up():
                    raise
                log.warning("%s: database unavailable (%s); retrying in %.1fs", what, err, delay)
                if self.failing_since is None:
                    self.failing_since = time.monotonic()
                self.last_error = str(err)
                self.check_patience()
            pause(delay)
            delay = min(delay * 2, MAX_STORE_BACKOFF_S)

    def cut_off_within(self, seconds: float, now: float) -> bool:
        """Whether the store failed us less than `seconds` ago."""
        return now - self.last_failure < seconds

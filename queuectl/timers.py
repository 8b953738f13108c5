"""The worker's periodic duties, and when each is next due.

One table says how often each duty comes round; the loop's steps ask whether theirs is
due and book the next turn when they have done it, and the loop's wait sleeps until the
earliest. A duty can also be brought forward: a heartbeat at once after a signal or an
outage, a claim when a scheduled job or a retry comes due.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from queuectl.config import Settings

PUBLISH_EVERY_S = 1.0  # running jobs' output goes to the store at most this often


class Duty(StrEnum):
    HEARTBEAT = "heartbeat"  # renew our leases; read orders (stop, cancel)
    REAP = "reap"  # fail the jobs of dead workers; read the settings again
    CLAIM = "claim"  # look for due jobs without a wake-up (the poll interval)
    PUBLISH = "publish"  # share running jobs' output so far


PERIODS: dict[Duty, Callable[[Settings], float]] = {
    Duty.HEARTBEAT: lambda s: min(s.lease_seconds / 3, 5.0),
    Duty.REAP: lambda s: max(s.lease_seconds / 2, 1.0),
    Duty.CLAIM: lambda s: s.poll_interval,
    Duty.PUBLISH: lambda s: PUBLISH_EVERY_S,
}


class Timers:
    """When each duty is next due (monotonic seconds); all are due at the start."""

    def __init__(self, now: float) -> None:
        self._next = dict.fromkeys(Duty, now)

    def at(self, duty: Duty) -> float:
        return self._next[duty]

    def due(self, duty: Duty, now: float) -> bool:
        return now >= self._next[duty]

    def booked(self, duty: Duty, now: float, settings: Settings) -> None:
        """Done at `now`: due again one period later."""
        self._next[duty] = now + PERIODS[duty](settings)

    def no_later_than(self, duty: Duty, at: float) -> None:
        self._next[duty] = min(self._next[duty], at)

    def due_now(self, duty: Duty) -> None:
        """Due at once (safe in a signal handler: one assignment)."""
        self._next[duty] = 0.0

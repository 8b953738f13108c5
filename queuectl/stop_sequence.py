"""How a worker stops: a small state machine over StopMode, and its last resort.

    (running) --GRACEFUL: `worker stop`, 1st signal--> GRACEFUL
    (running) --NOW: `worker stop --now`--------------> NOW
    GRACEFUL  --NOW: 2nd signal, `--now`, grace over--> NOW

Running, the worker claims and starts jobs. GRACEFUL: nothing new starts, jobs already
claimed but not started go back, and running jobs may end until the grace period is
over. NOW: running jobs are killed and handed back (released, their attempt not
counted). A stop never goes back (rules.stop_request: "now" beats "graceful"). Every
request arms the watchdog (watchdog.py), which ends the process a little after the stop
should be over, whatever the store does meanwhile (it may hang a call for good).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from queuectl.models import StopMode
from queuectl.rules import stop_request
from queuectl.slots import KILL_GRACE_S
from queuectl.watchdog import Watchdog

log = logging.getLogger("queuectl.worker")

HANDBACK_S = 3.0  # after a stop's deadline: how long to try to record and hand jobs back
WATCHDOG_SLACK_S = 2.0  # ...and how much longer before the watchdog ends the process


class StopSequence:
    """The stop asked for (`mode`, None while running), its deadline once the loop has
    begun it, and the watchdog that bounds it."""

    def __init__(self, grace_period: Callable[[], float]) -> None:
        self.grace_period = grace_period  # the worker's setting, as it changes
        self.mode: StopMode | None = None
        self.deadline: float | None = None  # monotonic; set by the loop's first `advance`
        self.signals = 0  # SIGTERM and SIGINT received
        self.watchdog: Watchdog | None = None  # only in the main thread (see `guard`)

    def guard(self, last_words: Callable[[], None]) -> None:
        """Have a watchdog end the process if a stop overruns (`last_words` first)."""
        self.watchdog = Watchdog(last_words)

    def request(self, mode: StopMode) -> bool:
        """Ask for a stop; whether that changed the mode. Safe in a signal handler."""
        wanted = stop_request(self.mode, mode)
        if wanted is self.mode:
            return False
        self.mode = wanted
        grace = self.grace_period() if wanted is StopMode.GRACEFUL else 0.0
        if self.watchdog is not None:
            self.watchdog.arm(grace + KILL_GRACE_S + HANDBACK_S + WATCHDOG_SLACK_S)
        return True

    def signalled(self) -> StopMode:
        """The stop a signal asks for: the first a graceful one, the next one now."""
        self.signals += 1
        return StopMode.GRACEFUL if self.signals == 1 else StopMode.NOW

    def advance(self, now: float, busy: int) -> None:
        """The loop's turn while stopping: the first starts the grace period (none on a
        cold stop); once it is over, a graceful stop becomes a cold one. `busy`: the jobs
        still running or not recorded yet, for the log."""
        if self.deadline is None:
            grace = self.grace_period() if self.mode is StopMode.GRACEFUL else 0.0
            self.deadline = now + grace
            if self.mode is StopMode.GRACEFUL and busy:
                log.info(
                    "stopping: waiting up to %gs for %d job(s); "
                    "a second Ctrl-C (or SIGTERM) kills them and puts them back as pending",
                    grace,
                    busy,
                )
        elif self.mode is StopMode.GRACEFUL and now >= self.deadline:
            log.info("grace period over: killing running jobs")
            self.mode = StopMode.NOW

    def grace_deadline(self) -> float | None:
        """When a graceful stop under way turns cold (None: no such stop)."""
        return self.deadline if self.mode is StopMode.GRACEFUL else None

    def ended(self) -> None:
        """The stop ended in time: the process goes on (see Watchdog.disarm)."""
        if self.watchdog is not None:
            self.watchdog.disarm()

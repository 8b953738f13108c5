"""Limits that hold across every worker and host: the rules, written once.

A queue may have a concurrency limit (jobs processing at once) and a rate (`N/PERIOD`:
starts spaced evenly, one every PERIOD/N seconds, never a burst); a job may name a
concurrency key, and the jobs sharing a key never run more at once than the key's limit
(1 unless set). Backends store the settings and the counters and guard the claim with
them (each in its own terms: SQLite's write lock, a PostgreSQL transaction lock, a Redis
script); what a claim may take is decided here (`ClaimPlan`), as are the words that say
why a due job is not running (`reason`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import msgspec

from queuectl.errors import InvalidSpec

DEFAULT_KEY_CONCURRENCY = 1
MAX_CONCURRENCY = 1_000_000
PERIODS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")
_KEY = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,200}$")


class Rate(msgspec.Struct, frozen=True):
    """At most `count` starts per `period` seconds, spaced evenly."""

    count: int
    period: float

    @property
    def interval(self) -> float:
        """Seconds between two starts."""
        return self.period / self.count

    def __str__(self) -> str:
        for unit, seconds in PERIODS.items():
            if self.period == seconds:
                return f"{self.count}/{unit}"
        for unit, seconds in reversed(PERIODS.items()):
            if self.period % seconds == 0:
                return f"{self.count}/{int(self.period // seconds)}{unit}"
        return f"{self.count}/{self.period:g}s"


class QueueLimit(msgspec.Struct, frozen=True):
    """A queue's limits as stored (None: no such limit), and the earliest time its rate
    allows the next start."""

    queue: str
    concurrency: int | None = None
    rate: Rate | None = None
    next_start_at: float = 0.0


class KeyLimit(msgspec.Struct, frozen=True):
    """A concurrency key: its limit (None: the default, 1), the jobs holding it now
    (`running`) and its unfinished jobs (`jobs`: waiting or running)."""

    key: str
    concurrency: int | None = None
    running: int = 0
    jobs: int = 0

    @property
    def limit(self) -> int:
        return DEFAULT_KEY_CONCURRENCY if self.concurrency is None else self.concurrency


# -- parsing ---------------------------------------------------------------------------


def parse_concurrency(text: str | int | None, field: str = "concurrency") -> int | None:
    """A concurrency limit: a whole number >= 1, or None / "none" to lift it."""
    if text is None or (isinstance(text, str) and text.strip().lower() == "none"):
        return None
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise InvalidSpec(
            f"{field} must be a whole number >= 1 or none, not {text!r}", field=field
        ) from None
    if isinstance(text, bool) or not 1 <= value <= MAX_CONCURRENCY:
        raise InvalidSpec(
            f"{field} must be a whole number from 1 to {MAX_CONCURRENCY} or none, not {text!r}",
            field=field,
        )
    return value


def parse_rate(text: str | None) -> Rate | None:
    """`N/PERIOD` (60/m, 10/s, 100/h, 5/10m, 1/d), or None / "none" to lift it."""
    if text is None or text.strip().lower() == "none":
        return None
    found = _RATE.match(text)
    count = int(found.group(1)) if found else 0
    if found is None or not 1 <= count <= MAX_CONCURRENCY:
        raise InvalidSpec(
            f"rate must be N/PERIOD (like 60/m, 10/s, 100/h, 5/10m) or none, not {text!r}",
            field="rate",
        )
    multiple = int(found.group(2) or "1")
    if multiple < 1:
        raise InvalidSpec(f"rate period must be at least 1, not {text!r}", field="rate")
    return Rate(count, multiple * PERIODS[found.group(3)])


def check_key(key: str) -> str:
    """A concurrency key: 1-200 letters, digits and ._:@/+=-."""
    if not isinstance(key, str) or not _KEY.match(key):
        raise InvalidSpec(
            f"bad concurrency key {key!r} (1-200 letters, digits and ._:@/+=-)",
            field="concurrency_key",
        )
    return key


# -- the claim's decision --------------------------------------------------------------


class ClaimPlan:
    """What one claim (a batch) may still take, seeded with the store's counters as read
    under the claim's lock: `room` left per limited queue and per key met so far. Every
    job it `admit`s counts against both at once, so a batch never exceeds a limit."""

    def __init__(self, queues: Iterable[QueueLimit], running: dict[str, int], now: float):
        self.now = now
        self.queue_room: dict[str, int] = {}
        self.rated: dict[str, Rate] = {}
        for limit in queues:
            room = MAX_CONCURRENCY
            if limit.concurrency is not None:
                room = limit.concurrency - running.get(limit.queue, 0)
            if limit.rate is not None:
                self.rated[limit.queue] = limit.rate
                room = min(room, 1 if limit.next_start_at <= now + 1e-9 else 0)
            self.queue_room[limit.queue] = room
        self.key_room: dict[str, int] = {}
        self.started: list[str] = []  # rate-limited queues that started a job

    def full_keys(self) -> list[str]:
        return sorted(k for k, room in self.key_room.items() if room <= 0)

    def key_has_room(self, key: str) -> bool:
        return self.key_room.get(key, DEFAULT_KEY_CONCURRENCY) > 0

    def knows_key(self, key: str) -> bool:
        return key in self.key_room

    def learn_key(self, key: KeyLimit) -> None:
        self.key_room[key.key] = key.limit - key.running

    def blocked_by(self, queue: str, key: str | None) -> str | None:
        """What keeps a job of `queue` with `key` (its key learnt first) from starting
        now: "queue", "key", or None when both have room."""
        if self.queue_room.get(queue, 1) <= 0:
            return "queue"
        if key is not None and self.key_room.get(key, DEFAULT_KEY_CONCURRENCY) <= 0:
            return "key"
        return None

    def queues_with_room(self) -> dict[str, int]:
        """The limited queues that may start jobs now, and how many."""
        return {q: room for q, room in self.queue_room.items() if room > 0}

    def admit(self, queue: str, key: str | None) -> bool:
        """Take a job of `queue` with `key` (its key learnt first) if both have room."""
        if self.blocked_by(queue, key) is not None:
            return False
        if queue in self.queue_room:
            self.queue_room[queue] -= 1
            if queue in self.rated:
                self.started.append(queue)
        if key is not None:
            self.key_room[key] = self.key_room.get(key, DEFAULT_KEY_CONCURRENCY) - 1
        return True

    def next_start(self, queue: str) -> float:
        """When a rate-limited queue that just started a job may start the next."""
        return self.now + self.rated[queue].interval


# -- why a due job waits ---------------------------------------------------------------


def reason(
    queue: QueueLimit | None,
    running: int,
    key: KeyLimit | None,
    holder: str | None,
    now: float,
) -> str | None:
    """Why a due job of this queue and key is not running now, in the operator's words,
    or None when no limit holds it back."""
    if queue is not None and queue.concurrency is not None and running >= queue.concurrency:
        return f"queue at its concurrency limit {running}/{queue.concurrency}"
    if key is not None and key.running >= key.limit:
        who = f" (job {holder})" if holder else ""
        return f"key {key.key} busy{who}"
    if queue is not None and queue.rate is not None and queue.next_start_at > now:
        return f"rate limit: next start in {max(queue.next_start_at - now, 0):.0f} s"
    return None

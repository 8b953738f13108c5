"""A claim with limits in force, for the SQL stores: which jobs to take, chosen by
queuectl.limits.ClaimPlan from candidates the store reads under its claim lock, and which
to park.

The store reads the best claimable jobs in claim order; the plan admits each in turn, and
a job whose queue or key is full is passed over and parked by the store (it leaves the
claim index until a slot frees), so no later claim reads past it again: however long the
backlog behind a limit, a claim reads about the jobs it takes. One claim parks at most
MAX_PARKED jobs, keeping its transaction short; the next claims go on from there."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from queuectl.limits import KeyLimit, QueueLimit, Rate

# (seen: the seqs already taken or passed over, limit) -> (seq, queue, key) in claim order
Candidates = Callable[[list[int], int], Sequence[tuple[int, str, str | None]]]
Keys = Callable[[list[str]], Sequence[KeyLimit]]
Unpark = Callable[[str], bool]  # key -> whether one of its parked jobs came back

MAX_PARKED = 1000
READ_AHEAD = 64  # rows read at a time once a claim has had to pass jobs over


class Choice(NamedTuple):
    """The seqs a claim takes (claim order) and those it parks, by what is full."""

    take: list[int]
    park_queue: list[int]
    park_key: list[int]

    def stopped_short(self, limit: int) -> bool:
        """Whether the claim stopped at MAX_PARKED before its batch was full (claimable
        jobs may lie beyond: the next claim should come at once, not after a poll)."""
        return len(self.take) < limit and len(self.park_queue) + len(self.park_key) >= MAX_PARKED


def choose(plan: Any, limit: int, candidates: Candidates, keys: Keys, unpark_key: Unpark) -> Choice:
    """What a claim of `limit` jobs takes and parks (plan: a queuectl.limits.ClaimPlan).

    A job passed over for its full queue while its key has room hands the key's turn on:
    the key's best parked job comes back (`unpark_key`) and is read next, so no slot of a
    key stays idle while one of its jobs could start."""
    choice = Choice([], [], [])
    passed = 0
    more = True
    while len(choice.take) < limit and passed < MAX_PARKED and more:
        more = False
        size = limit - len(choice.take)
        if passed:
            size = max(size, READ_AHEAD)
        rows = candidates([*choice.take, *choice.park_queue, *choice.park_key], size)
        unknown = sorted({k for _, _, k in rows if k is not None and not plan.knows_key(k)})
        if unknown:
            found = {k.key: k for k in keys(unknown)}
            for name in unknown:
                plan.learn_key(found.get(name, KeyLimit(name)))
        for seq, queue, key in rows:
            if len(choice.take) >= limit or passed >= MAX_PARKED:
                break
            why = plan.blocked_by(queue, key)
            if why is None:
                plan.admit(queue, key)
                choice.take.append(seq)
            else:
                (choice.park_queue if why == "queue" else choice.park_key).append(seq)
                passed += 1
                if why == "queue" and key is not None and plan.key_has_room(key):
                    more = unpark_key(key) or more
        if len(rows) == size:
            more = True  # the candidates go on
    return choice


def unpark_rooms(plan: Any, queues: Sequence[str] | None, limit: int) -> dict[str, int]:
    """How many parked jobs to bring back per limited queue of `queues` (None: all) that
    has room, before a claim of `limit` jobs reads: its room, at most the batch."""
    return {
        queue: min(room, limit)
        for queue, room in plan.queues_with_room().items()
        if queues is None or queue in queues
    }


def queue_limit(row: Any) -> QueueLimit:
    """A queue_limits row (sqlite3.Row or dict) as a QueueLimit."""
    rate = None
    if row["rate_count"] is not None:
        rate = Rate(int(row["rate_count"]), float(row["rate_period"]))
    return QueueLimit(
        queue=row["queue"],
        concurrency=row["concurrency"],
        rate=rate,
        next_start_at=float(row["next_start_at"] or 0.0),
    )


def key_limit(row: Any) -> KeyLimit:
    return KeyLimit(
        key=row["key"], concurrency=row["concurrency"], running=row["running"], jobs=row["jobs"]
    )

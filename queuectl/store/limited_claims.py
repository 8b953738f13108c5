"""A claim with limits in force, for the SQL stores: which jobs to take, chosen by
queuectl.limits.ClaimPlan from candidates the store reads under its claim lock.

The store reads the best candidates outside the queues and keys already full; the plan
admits them in claim order until one would break a limit, whose queue or key then joins
the full ones and the store reads again. Each read either fills the batch, ends the
candidates, or shuts one more queue or key out, so a claim asks at most a few times."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from queuectl.limits import KeyLimit, QueueLimit, Rate

Candidates = Callable[[list[str], list[str], list[int], int], Sequence[tuple[int, str, str | None]]]
Keys = Callable[[list[str]], Sequence[KeyLimit]]


def choose(plan: Any, limit: int, candidates: Candidates, keys: Keys) -> list[int]:
    """The seqs of the jobs to take, in claim order (plan: a queuectl.limits.ClaimPlan)."""
    taken: list[int] = []
    while len(taken) < limit:
        want = limit - len(taken)
        rows = candidates(plan.full_queues(), plan.full_keys(), taken, want)
        unknown = sorted({k for _, _, k in rows if k is not None and not plan.knows_key(k)})
        if unknown:
            found = {k.key: k for k in keys(unknown)}
            for name in unknown:
                plan.learn_key(found.get(name, KeyLimit(name)))
        for seq, queue, key in rows:
            if not plan.admit(queue, key):
                break  # its queue or key is full now: read again without it
            taken.append(seq)
        else:
            break  # every candidate taken: the batch is full or the candidates ended
    return taken


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

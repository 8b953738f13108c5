"""How RedisStore writes operators' decisions (apply.lua) and purges (purge.lua).

queuectl/store/guarded.py decides; this only encodes: apply.lua takes, per job, its id,
the state and last_attempt the change was decided from, "delete" or "set", and the fields
to set, each value marked with how to write it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from queuectl import rules
from queuectl.models import JobState
from queuectl.store.redis_rows import optional

if TYPE_CHECKING:
    from queuectl.store.redis_client import Scripts

PURGE_BATCH = 2000  # jobs deleted per script call: a big purge never blocks the server long


def apply_args(changes: Sequence[rules.Change]) -> list[Any]:
    """apply.lua's arguments for `changes`."""
    args: list[Any] = []
    for change in changes:
        action = "delete" if change.delete else "set"
        args += [change.job_id, str(change.from_state), change.from_attempt, action]
        args.append(len(change.sets))
        for field, value in change.sets.items():
            args += [str(field), _value(value)]
    return args


def _value(value: rules.Value) -> str:
    """A field value for apply.lua: "s" + text (set), "n" (the store's now), "d" (remove
    the field: None), "o" + default (the job's own max_retries, else the default)."""
    if isinstance(value, rules.StoreNow):
        return "n"
    if isinstance(value, rules.RetryBudget):
        return "o" + str(value.default)
    if value is None:
        return "d"
    if isinstance(value, bool):
        return "s1" if value else "s0"
    if isinstance(value, float):
        return "s" + optional(value)
    return "s" + str(value)


def purge(
    scripts: Scripts, states: Sequence[JobState], older_than: float | None, limit: int | None = None
) -> int:
    """Delete jobs in final `states` older than `older_than` seconds, a batch per call
    (at most `limit` in all, when given)."""
    purgeable = [str(s) for s in states if s in rules.PURGEABLE]
    if not purgeable:
        return 0
    total = 0
    while True:
        batch = PURGE_BATCH if limit is None else min(PURGE_BATCH, limit - total)
        gone = int(scripts.run("purge", [optional(older_than), batch, *purgeable]))
        total += gone
        if gone < batch or (limit is not None and total >= limit):
            return total

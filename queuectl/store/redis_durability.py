"""Whether a Redis server keeps what it acknowledged: read from its persistence settings.

Redis acknowledges a write before (or without) putting it on disk unless the append-only
file is on and synced on every write. What a crash or restart can lose:

- `appendonly yes`, `appendfsync always`: nothing acknowledged (the reply follows fsync).
- `appendonly yes`, `appendfsync everysec`: up to about a second of changes on a crash.
- `appendonly yes`, `appendfsync no`: what the kernel had not written yet (~30 s).
- no append-only file, RDB snapshots (`save`): everything since the last snapshot.
- neither: everything, on any restart.

A server that refuses CONFIG (managed services often rename it) may be configured well;
queuectl then says it cannot tell rather than guess.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from queuectl.errors import StoreError

if TYPE_CHECKING:
    import redis

    from queuectl.store.redis_client import Scripts

ADVICE = "set appendonly yes and appendfsync always for durable jobs"


def durability_warning(client: redis.Redis, scripts: Scripts, target: str) -> str | None:
    """One line when acknowledged jobs would not survive a server crash or restart; None
    when they would."""
    try:
        settings = scripts.call(lambda: _persistence(client), read=True)
    except StoreError as err:
        if "unknown command" in str(err).lower() or "no permission" in str(err).lower():
            return f"warning: cannot read the persistence settings of Redis at {target}; {ADVICE}"
        raise
    return judge(settings, target)


def _persistence(client: redis.Redis) -> dict[str, str]:
    found: dict[Any, Any] = {}
    for name in ("appendonly", "appendfsync", "save"):
        found.update(client.config_get(name))
    return {_text(k): _text(v) for k, v in found.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def judge(settings: dict[str, str], target: str) -> str | None:
    """The warning for these CONFIG GET values, or None when nothing acknowledged is lost."""
    aof = settings.get("appendonly", "no").lower() == "yes"
    fsync = settings.get("appendfsync", "everysec").lower()
    if aof and fsync == "always":
        return None
    if aof and fsync == "everysec":
        loss = "syncs once a second: a crash can lose the last second of acknowledged jobs"
    elif aof:
        loss = "leaves syncing to the OS: a crash can lose the last seconds of acknowledged jobs"
    elif settings.get("save", "").strip():
        loss = "saves snapshots only: a crash loses the jobs acknowledged since the last one"
    else:
        loss = "has persistence off: a restart loses every job"
    return f"warning: Redis at {target} {loss}; {ADVICE}"

"""Config keys: names, defaults, types and ranges. Values live in the store's config table,
so every worker on every host sees the same settings."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from queuectl.errors import ConfigError, InvalidSpec, UnknownConfigKey
from queuectl.rules import backoff_delay
from queuectl.timefmt import parse_duration


class Key(msgspec.Struct, frozen=True):
    name: str
    default: float
    kind: type  # int or float
    low: float
    high: float
    help: str
    seconds: bool = False  # a duration: `90`, `30s`, `15m` and `1h30m` are all taken
    forever: bool = False  # 0 means "for ever"; the word `forever` is taken for it

    def parse(self, text: str) -> float:
        """Turn the user's text into a value of the right kind, within range."""
        try:
            value: float = self.kind(text)
        except ValueError:
            forever = self.forever and text.strip().lower() == "forever"
            value = 0 if forever else self._duration(text)
        if not self.low <= value <= self.high:
            raise ConfigError(
                f"{self.name} must be between {_fmt(self.low)} and {_fmt(self.high)}",
                field="value",
            )
        return value

    def _duration(self, text: str) -> float:
        expected = "a whole number" if self.kind is int else "a number"
        if self.seconds:
            expected = "a number of seconds or a duration (30s, 15m, 1h30m)"
            try:
                return parse_duration(text)
            except InvalidSpec:
                pass
        raise ConfigError(f"{self.name} must be {expected}, got {text!r}", field="value")

    @property
    def type_name(self) -> str:
        """Either integer or number: what a form or a schema should offer."""
        return "integer" if self.kind is int else "number"


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


MAX_OUTPUT_LIMIT = 16 << 20  # bytes per stream; see output-limit below
MAX_KEEP = 100 * 365 * 86_400  # a century

KEYS: dict[str, Key] = {
    key.name: key
    for key in (
        Key("max-retries", 3, int, 0, 1000, "retries after the first attempt for new jobs"),
        Key("backoff-base", 2, float, 1, 100, "retry n waits backoff-base ** n seconds"),
        Key(
            "max-backoff",
            3600,
            float,
            0,
            31_536_000,
            "upper bound of one retry delay (s)",
            seconds=True,
        ),
        Key("backoff-jitter", 0, float, 0, 1, "random extra delay, as a fraction of it"),
        Key(
            "job-timeout",
            0,
            float,
            0,
            31_536_000,
            "default timeout per attempt (s, 0 = none)",
            seconds=True,
        ),
        Key(
            "lease-seconds",
            30,
            float,
            2,
            86_400,
            "a job's lease; heartbeats renew it",
            seconds=True,
        ),
        Key("worker-count", 1, int, 1, 256, "jobs at once for `worker start` without --count"),
        Key("poll-interval", 0.5, float, 0.01, 60, "fallback claim interval without a wake-up (s)"),
        Key(
            "grace-period",
            60,
            float,
            0,
            86_400,
            "how long a graceful stop waits for jobs (s)",
            seconds=True,
        ),
        # 16 MiB per stream: both tails of one attempt (32 MiB) stay far below what every
        # backend takes in one write (SQLite: 1e9 bytes per row; PostgreSQL: 1 GB per
        # value and per protocol message), a worker's memory stays a few times that per
        # slot, and one result is written in well under a lease.
        Key("output-limit", 65_536, int, 0, MAX_OUTPUT_LIMIT, "bytes of stdout/stderr tail kept"),
        # Retention: how long finished jobs are kept, by how they ended (workers prune).
        *(
            Key(
                f"keep-{state}",
                days * 86_400,
                float,
                0,
                MAX_KEEP,
                f"keep {state} jobs this long, then prune them (0 or forever = keep)",
                seconds=True,
                forever=True,
            )
            for state, days in (("completed", 7), ("cancelled", 7), ("dead", 0))
        ),
    )
}


# Key names of earlier QueueCTL tools, accepted wherever a key is (hyphens or underscores).
ALIASES = {
    "base-delay": "backoff-base",
    "timeout": "job-timeout",
    "job-time-out-seconds": "job-timeout",
    "max-backoff-seconds": "max-backoff",
}
SCALED_ALIASES = {"poll-interval-ms": ("poll-interval", 0.001)}  # config set only


def canonical_key(name: str) -> str:
    """Accept `max_retries` and `MAX-RETRIES` for `max-retries`; reject unknown keys."""
    key = name.strip().lower().replace("_", "-")
    key = ALIASES.get(key, key)
    if key not in KEYS:
        known = ", ".join(KEYS)
        raise UnknownConfigKey(f"unknown config key {name!r} (known keys: {known})", field="key")
    return key


def parse_value(name: str, text: str) -> tuple[str, str]:
    """Validate a `config set`; returns the canonical key and the value as stored."""
    scaled = SCALED_ALIASES.get(name.strip().lower().replace("_", "-"))
    if scaled is not None:
        target, factor = scaled
        try:
            text = _fmt(float(text) * factor)
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {text!r}") from None
        name = target
    key = KEYS[canonical_key(name)]
    return key.name, _fmt(key.parse(text))


class Settings(msgspec.Struct, frozen=True):
    """Typed view of the config table, defaults filled in."""

    max_retries: int
    backoff_base: float
    max_backoff: float
    backoff_jitter: float
    job_timeout: float
    lease_seconds: float
    worker_count: int
    poll_interval: float
    grace_period: float
    output_limit: int
    keep_completed: float
    keep_cancelled: float
    keep_dead: float

    @classmethod
    def from_stored(cls, stored: Mapping[str, str]) -> Settings:
        values = {}
        for name, key in KEYS.items():
            raw = stored.get(name)
            value = key.kind(raw) if raw is not None else key.kind(key.default)
            # A value stored before its range narrowed (output-limit once took 1 GiB)
            # counts as the nearest value allowed now.
            values[name.replace("-", "_")] = key.kind(min(max(value, key.low), key.high))
        return cls(**values)

    def retry_delay(self, failed_attempts: int, jitter: float = 0.0) -> float:
        """Seconds to wait after the n-th failed attempt: min(base ** n, max-backoff),
        plus `jitter` (a number in [0, 1)) times backoff-jitter of it."""
        return backoff_delay(
            failed_attempts, self.backoff_base, self.max_backoff, self.backoff_jitter, jitter
        )


def effective_values(stored: Mapping[str, str]) -> dict[str, str]:
    """Every key with its value as a user sees it: stored, or the default."""
    return {name: stored.get(name, _fmt(key.default)) for name, key in KEYS.items()}


def default_text(name: str) -> str:
    """A key's default as `config list` shows it."""
    return _fmt(KEYS[name].default)

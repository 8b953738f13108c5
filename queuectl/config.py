"""Config keys: names, defaults, types and ranges. Values live in the store's config table,
so every worker on every host sees the same settings."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from queuectl.errors import ConfigError


class Key(msgspec.Struct, frozen=True):
    name: str
    default: float
    kind: type  # int or float
    low: float
    high: float
    help: str

    def parse(self, text: str) -> float:
        """Turn the user's text into a value of the right kind, within range."""
        try:
            value: float = self.kind(text)
        except ValueError:
            expected = "a whole number" if self.kind is int else "a number"
            raise ConfigError(f"{self.name} must be {expected}, got {text!r}") from None
        if not self.low <= value <= self.high:
            raise ConfigError(f"{self.name} must be between {_fmt(self.low)} and {_fmt(self.high)}")
        return value


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


KEYS: dict[str, Key] = {
    key.name: key
    for key in (
        Key("max-retries", 3, int, 0, 1000, "retries after the first attempt for new jobs"),
        Key("backoff-base", 2, float, 1, 100, "retry n waits backoff-base ** n seconds"),
        Key("max-backoff", 3600, float, 0, 31_536_000, "upper bound of one retry delay (s)"),
        Key("backoff-jitter", 0, float, 0, 1, "random extra delay, as a fraction of it"),
        Key("job-timeout", 0, float, 0, 31_536_000, "default timeout per attempt (s, 0 = none)"),
        Key("lease-seconds", 30, float, 2, 86_400, "a job's lease; heartbeats renew it"),
        Key("grace-period", 60, float, 0, 86_400, "how long a graceful stop waits for jobs (s)"),
        Key(
            "output-limit", 65_536, int, 0, 1 << 30, "bytes of stdout/stderr tail kept per attempt"
        ),
    )
}


def canonical_key(name: str) -> str:
    """Accept `max_retries` and `MAX-RETRIES` for `max-retries`; reject unknown keys."""
    key = name.strip().lower().replace("_", "-")
    if key not in KEYS:
        known = ", ".join(KEYS)
        raise ConfigError(f"unknown config key {name!r} (known keys: {known})")
    return key


def parse_value(name: str, text: str) -> tuple[str, str]:
    """Validate a `config set`; returns the canonical key and the value as stored."""
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
    grace_period: float
    output_limit: int

    @classmethod
    def from_stored(cls, stored: Mapping[str, str]) -> Settings:
        values = {}
        for name, key in KEYS.items():
            raw = stored.get(name)
            values[name.replace("-", "_")] = (
                key.kind(raw) if raw is not None else key.kind(key.default)
            )
        return cls(**values)

    def retry_delay(self, failed_attempts: int, jitter: float = 0.0) -> float:
        """Seconds to wait after the n-th failed attempt: min(base ** n, max-backoff),
        plus `jitter` (a number in [0, 1)) times backoff-jitter of it."""
        try:
            delay = min(self.backoff_base**failed_attempts, self.max_backoff)
        except OverflowError:
            delay = self.max_backoff
        return delay * (1 + self.backoff_jitter * jitter)


def effective_values(stored: Mapping[str, str]) -> dict[str, str]:
    """Every key with its value as a user sees it: stored, or the default."""
    return {name: stored.get(name, _fmt(key.default)) for name, key in KEYS.items()}

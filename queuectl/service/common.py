"""What every service module needs: the settings and user-typed state names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from queuectl import config as cfg
from queuectl.errors import InvalidSpec
from queuectl.models import BLOCKED, SCHEDULED, JobState, ListState

if TYPE_CHECKING:
    from queuectl.store.base import Store

DEFAULT_MAX_RETRIES = int(cfg.KEYS["max-retries"].default)


def settings(store: Store) -> cfg.Settings:
    return cfg.Settings.from_stored(store.get_config())


def configured_max_retries(store: Store) -> int:
    """The max-retries default the store applies to jobs without their own: read here,
    from config, and handed to the store (queuectl.rules.max_retries_for)."""
    return settings(store).max_retries


def parse_state(text: str) -> JobState:
    """A state name as typed by a user; the error lists the valid ones."""
    try:
        return JobState(text.strip().lower())
    except ValueError:
        valid = ", ".join(s.value for s in JobState)
        raise InvalidSpec(f"unknown state {text!r} (valid: {valid})", field="state") from None


def parse_list_states(values: str | list[str] | tuple[str, ...] | None) -> tuple[ListState, ...]:
    """Listing states as typed: repeated and/or comma-separated (`failed,dead`), plus
    "scheduled"; duplicates once, in the order given."""
    if values is None:
        return ()
    items = [values] if isinstance(values, str) else list(values)
    found: list[ListState] = []
    for item in items:
        for name in item.split(","):
            if not name.strip():
                continue
            if name.strip().lower() in (SCHEDULED, BLOCKED):
                found.append(name.strip().lower())
                continue
            try:
                found.append(JobState(name.strip().lower()))
            except ValueError:
                valid = ", ".join([*(s.value for s in JobState), SCHEDULED, BLOCKED])
                raise InvalidSpec(
                    f"unknown state {name.strip()!r} (valid: {valid})", field="state"
                ) from None
    return tuple(dict.fromkeys(found))

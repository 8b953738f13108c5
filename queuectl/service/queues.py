"""Pausing and resuming queues: workers on every host claim nothing from a paused queue
(its running jobs go on) until it is resumed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from queuectl.errors import InvalidSpec
from queuectl.spec import is_queue_name

if TYPE_CHECKING:
    from queuectl.store.base import Store

EVERY_QUEUE = "*"  # stored for `pause` without names: not a valid queue name, so no clash


def _checked(queues: Sequence[str]) -> list[str]:
    for name in queues:
        if not is_queue_name(name):
            raise InvalidSpec(f"bad queue name {name!r} (letters, digits, ._:-)", field="queue")
    return list(dict.fromkeys(queues))


def pause(store: Store, queues: Sequence[str]) -> list[str]:
    """Pause these queues (none named: every queue, present and future). Returns what is
    paused now."""
    store.pause_queues(_checked(queues) or [EVERY_QUEUE])
    return store.paused_queues()


def resume(store: Store, queues: Sequence[str]) -> list[str]:
    """Resume these queues (none named: all of them, and undo a pause of every queue).
    Returns what stays paused."""
    store.resume_queues(_checked(queues) or None)
    return store.paused_queues()


def paused(store: Store) -> list[str]:
    return store.paused_queues()

"""memory:// lives in one process: the command line, where every command is a process of
its own, refuses it rather than take jobs that are gone when the command exits."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Run

pytestmark = pytest.mark.before_store  # refused before any store is opened


@pytest.mark.parametrize(
    "args",
    [
        ("enqueue", '{"command":"true"}'),  # the fast path
        ("enqueue", "--", "true"),
        ("status", "--json"),  # the fast path
        ("list",),
        ("worker", "start", "--burst"),
    ],
    ids=["enqueue-spec", "enqueue-command", "status-json", "list", "worker"],
)
def test_every_command_refuses_a_memory_database(run: Run, args: tuple[str, ...]) -> None:
    result = run(*args, env={"QUEUECTL_DB": "memory://jobs"})
    result.error("memory:// lives in the memory of one process", "file path", code=1)
    assert result.stdout == ""

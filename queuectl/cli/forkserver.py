"""`queuectl forkserver`: see, start and stop the process that runs short commands
without their start-up (queuectl/forkserver.py says how)."""

from __future__ import annotations

import json
import time

import click

from queuectl import launcher
from queuectl.cli.errors import fail

START_TIMEOUT_S = 60.0


@click.group()
def forkserver() -> None:
    """The fork server: a process per user and installation that has imported what
    `enqueue`, `status`, `list`, `show` and `logs` need, and runs each of them in a fork
    of itself. The first such command starts it; it ends after QUEUECTL_FORKSERVER_IDLE
    seconds (default 600) without one. On PostgreSQL and Redis its spare child opens the
    last command's database ahead, for QUEUECTL_FORKSERVER_AHEAD seconds (default 2; 0:
    never). QUEUECTL_FORKSERVER=0 turns it off."""


def _ask(kind: str) -> tuple[object, ...] | None:
    try:
        return launcher.control(kind)
    except ValueError as err:
        fail(str(err), 1)


@forkserver.command()
@click.option("--json", "as_json", is_flag=True, help="Print the state as one JSON object.")
def status(as_json: bool) -> None:
    """Whether this installation's fork server runs, and what it has done."""
    answer = _ask("status")
    if answer is None or answer[0] != "status" or len(answer) != 7:
        state: dict[str, object] = {"running": False}
    else:
        _, pid, started, served, idle_s, running, taken_ahead = answer
        assert isinstance(started, float)
        state = {
            "running": True,
            "pid": pid,
            "up_s": round(time.time() - started, 1),
            "commands": served,
            "commands_running": running,
            "stores_opened_ahead_taken": taken_ahead,
            "idle_exit_s": idle_s,
        }
    if as_json:
        click.echo(json.dumps(state))
    elif not state["running"]:
        click.echo("not running")
    else:
        click.echo(
            f"running: pid {state['pid']}, up {state['up_s']}s, {state['commands']} commands"
            f" run ({state['stores_opened_ahead_taken']} on a store opened ahead), ends"
            f" after {state['idle_exit_s']:g}s without one"
        )


@forkserver.command()
def start() -> None:
    """Start the fork server now (if not running) and wait until it serves."""
    if _ask("status") is None:
        try:
            launcher.start_now()
        except ValueError as err:
            fail(str(err), 1)
        give_up = time.monotonic() + START_TIMEOUT_S
        while _ask("status") is None:
            if time.monotonic() > give_up:
                fail(f"the fork server did not start within {START_TIMEOUT_S:g}s", 1)
            time.sleep(0.02)
    answer = _ask("status")
    assert answer is not None
    click.echo(f"running: pid {answer[1]}")


@forkserver.command()
def stop() -> None:
    """Stop the fork server: it takes no more commands, and ends when the ones it runs
    have ended."""
    answer = _ask("stop")
    click.echo("not running" if answer is None else f"stopped: pid {answer[1]}")

"""`queuectl queue`: the queues with their counts and limits, and setting the limits
(a queue's concurrency and rate, a concurrency key's limit), stored in the database and
obeyed by every worker on every host from its next claim."""

from __future__ import annotations

from typing import Any

import click

from queuectl.cli import output
from queuectl.cli.app import completer
from queuectl.cli.context import App, pass_app
from queuectl.service import limits as limit_service
from queuectl.service.queues import QueueOverview, overview

SET_EXAMPLES = """
\b
queuectl queue set video --concurrency 2     # at most 2 encodes at once, any host
queuectl queue set mail --rate 60/m          # one start a second, never 60 at once
queuectl queue set video --concurrency none  # lift it
"""


@click.group()
def queue() -> None:
    """Queues: counts and limits (`list`); limits (`set`, `set-key`, `keys`)."""


@queue.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_app
def list_queues(app: App, as_json: bool) -> None:
    """Each queue: jobs due, scheduled, running, failed, dead, its limits, whether it is
    paused, and how long its oldest due job has waited."""
    rows = overview(app.store)
    if as_json:
        output.echo_json([_row_dict(row) for row in rows])
        return
    if not rows:
        click.echo("no queues")
        return
    columns = ["QUEUE", "DUE", "SCHED", "RUNNING", "FAILED", "DEAD", "LIMIT", "RATE"]
    columns += ["PAUSED", "OLDEST DUE"]
    table = [
        [
            row.queue,
            str(row.due),
            str(row.scheduled),
            str(row.running),
            str(row.failed),
            str(row.dead),
            "-" if row.concurrency is None else f"{row.running}/{row.concurrency}",
            row.rate or "-",
            "yes" if row.paused else "",
            "" if row.oldest_pending_age is None else _age(row.oldest_pending_age),
        ]
        for row in rows
    ]
    output.print_table(None, columns, table)
    for row in rows:
        if row.held_back:
            click.echo(f"{row.queue}: {row.held_back}")


def _row_dict(row: QueueOverview) -> dict[str, Any]:
    import msgspec

    found: dict[str, Any] = msgspec.to_builtins(row)
    return found


def _age(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


@queue.command("set", epilog=SET_EXAMPLES)
@click.argument("name", metavar="QUEUE", shell_complete=completer("complete_queues"))
@click.option(
    "--concurrency",
    metavar="N|none",
    help="At most N jobs of the queue processing at once, across every worker and host.",
)
@click.option(
    "--rate",
    metavar="N/PERIOD|none",
    help="At most N starts a PERIOD (s, m, h, d; 5/10m), spaced evenly: 60/m is one a second.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the queue's limits as JSON.")
@pass_app
def set_limits(
    app: App, name: str, concurrency: str | None, rate: str | None, as_json: bool
) -> None:
    """Set or lift a queue's limits; workers on every host obey them from their next
    claim. A paused queue keeps its limits."""
    import msgspec

    found = limit_service.set_queue_limits(
        app.store,
        name,
        msgspec.UNSET if concurrency is None else concurrency,
        msgspec.UNSET if rate is None else rate,
    )
    if as_json:
        output.echo_json(msgspec.to_builtins(found))
        return
    shown = "none" if found.concurrency is None else str(found.concurrency)
    click.echo(f"{found.queue}: concurrency {shown}, rate {found.rate or 'none'}")


@queue.command("set-key")
@click.argument("key")
@click.option(
    "--concurrency",
    metavar="N|none",
    required=True,
    help="At most N jobs with this key running at once (none: back to the default, 1).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the key as JSON.")
@pass_app
def set_key(app: App, key: str, concurrency: str, as_json: bool) -> None:
    """Set a concurrency key's limit: jobs enqueued with --concurrency-key KEY (or the
    spec's "concurrency_key") never run more at once than this, on any host, whatever
    their queues."""
    import msgspec

    found = limit_service.set_key_limit(app.store, key, concurrency)
    if as_json:
        output.echo_json(msgspec.to_builtins(found))
        return
    click.echo(f"key {found.key}: concurrency {found.concurrency}, {found.running} running")


@queue.command("keys")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_app
def keys(app: App, as_json: bool) -> None:
    """Concurrency keys with unfinished jobs or a limit of their own."""
    import msgspec

    found = limit_service.keys(app.store)
    if as_json:
        output.echo_json([msgspec.to_builtins(k) for k in found])
        return
    if not found:
        click.echo("no concurrency keys")
        return
    rows = [
        [k.key, str(k.running), str(k.concurrency) + ("" if k.own else " (default)"), str(k.jobs)]
        for k in found
    ]
    output.print_table(None, ["KEY", "RUNNING", "LIMIT", "UNFINISHED"], rows)

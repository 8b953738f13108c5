"""Printing: readable tables for people (Rich, imported only here), JSON for programs."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import click

from queuectl import service
from queuectl.models import Attempt, Job, WorkerInfo

STATE_STYLES = {
    "pending": "cyan",
    "processing": "yellow",
    "completed": "green",
    "failed": "magenta",
    "dead": "red",
    "cancelled": "dim",
}


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def when(ts: float | None, short: bool = False) -> str:
    """A time for a table: UTC, to the second, with 'in 5s' for the near future."""
    if ts is None:
        return "-"
    text = datetime.fromtimestamp(ts, UTC).strftime(
        "%m-%d %H:%M:%S" if short else "%Y-%m-%d %H:%M:%S"
    )
    ahead = ts - time.time()
    return f"{text} (in {ahead:.0f}s)" if 0 < ahead < 86_400 else text


def print_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Columns named with a trailing `~` shrink (ellipsis) when the terminal is narrow;
    the others never wrap."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left", show_edge=False, header_style="bold")
    for index, column in enumerate(columns):
        if column.endswith("~"):
            table.add_column(column[:-1], overflow="ellipsis", no_wrap=True, min_width=12)
        else:
            cells = [Text.from_markup(row[index]).cell_len for row in rows]
            table.add_column(column, no_wrap=True, min_width=max([len(column), *cells]))
    for row in rows:
        table.add_row(*row)
    Console(soft_wrap=False).print(table)


def _state(value: str) -> str:
    return f"[{STATE_STYLES.get(value, '')}]{value}[/]"


def _plain(text: str) -> str:
    from rich.markup import escape

    return escape(text.replace("\n", " "))


def print_jobs(jobs: Sequence[Job], as_json: bool, title: str | None = None) -> None:
    if as_json:
        echo_json([service.job_dict(job) for job in jobs])
        return
    if not jobs:
        click.echo("no jobs")
        return
    waiting = any(job.state.value in ("pending", "failed") for job in jobs)
    queues = len({job.queue for job in jobs}) > 1
    columns = ["ID", "STATE", "ATTEMPTS", "PRI", *(["QUEUE"] if queues else []), "UPDATED"]
    columns += [*(["RUN AT"] if waiting else []), "COMMAND~"]
    rows = []
    for job in jobs:
        row = [_plain(job.id), _state(job.state.value), f"{job.attempts}/{job.max_retries + 1}"]
        row += [str(job.priority), *([_plain(job.queue)] if queues else [])]
        row.append(when(job.updated_at, short=True))
        if waiting:
            due = job.state.value in ("pending", "failed")
            row.append(when(job.run_at, short=True) if due else "")
        rows.append([*row, _plain(job.command)])
    print_table(title, columns, rows)


def print_job(job: Job, attempts: Sequence[Attempt], as_json: bool) -> None:
    if as_json:
        data = service.job_dict(job)
        data["attempt_log"] = [service.attempt_dict(a) for a in attempts]
        echo_json(data)
        return
    for key, value in service.job_dict(job).items():
        if value is not None:
            shown = value if isinstance(value, str) else json.dumps(value)
            click.echo(f"{key + ':':<18}{shown}")
    for attempt in attempts:
        outcome = attempt.error or (
            f"exit {attempt.exit_code}" if attempt.finished_at else "running"
        )
        click.echo(
            f"\nattempt {attempt.attempt} on {attempt.worker_id}: {outcome}\n"
            f"  started {when(attempt.started_at)}, finished {when(attempt.finished_at)}"
        )
        for name, stream in (("stdout", attempt.stdout), ("stderr", attempt.stderr)):
            if stream:
                click.echo(f"  --- {name} (tail) ---")
                click.echo(_indent(stream.decode("utf-8", "replace")))


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.rstrip("\n").splitlines())


def print_workers(workers: Sequence[WorkerInfo], as_json: bool) -> None:
    if as_json:
        echo_json([service.worker_dict(w) for w in workers])
        return
    if not workers:
        click.echo("no workers")
        return
    rows = [
        [
            w.id,
            w.host,
            str(w.pid),
            ",".join(w.queues) or "*",
            f"{len(w.running)}/{w.slots}",
            when(w.started_at),
            when(w.heartbeat_at),
            w.stop_requested or "",
        ]
        for w in workers
    ]
    columns = ["ID", "HOST", "PID", "QUEUES", "RUNNING", "STARTED", "HEARTBEAT", "STOP"]
    print_table(None, columns, rows)


def print_status(report: service.Status, as_json: bool) -> None:
    if as_json:
        echo_json(service.status_dict(report))
        return
    counts = report.counts.by_state
    rows = [[_state(state.value), str(n)] for state, n in counts.items()]
    rows.append(["[bold]total[/]", str(sum(counts.values()))])
    print_table("Jobs", ["STATE", "COUNT"], rows)
    if report.counts.scheduled:
        click.echo(f"\n{report.counts.scheduled} pending job(s) scheduled for later")
    busy = sum(len(w.running) for w in report.workers)
    slots = sum(w.slots for w in report.workers)
    click.echo(f"\nWorkers alive: {len(report.workers)} ({busy}/{slots} slots busy)")


def warn(message: str) -> None:
    print(message, file=sys.stderr)

"""Printing: readable tables for people (queuectl.cli.table), JSON for programs. No Click
here: the fast path (cli/fast.py) prints through these functions too."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from queuectl import serialize
from queuectl.models import Attempt, Job, WorkerInfo
from queuectl.timefmt import relative, stamp

if TYPE_CHECKING:
    from queuectl.service import Enqueued, Status
    from queuectl.service.workflows import Links

STATE_STYLES = {
    "pending": "cyan",
    "processing": "yellow",
    "completed": "green",
    "failed": "magenta",
    "dead": "red",
    "cancelled": "dim",
}


def echo(text: str = "", err: bool = False) -> None:
    """One line (or several) on stdout, or stderr with `err`, flushed."""
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")
    stream.flush()


def print_ids(ids: Sequence[str], as_json: bool) -> None:
    """The ids a command added: one a line, or {"ids": [...]}."""
    if as_json:
        echo_json({"ids": list(ids)})
    else:
        echo("\n".join(ids))


def print_enqueued(answers: Sequence[Enqueued], as_json: bool, bulk: bool = False) -> None:
    """What an enqueue did: the ids as print_ids prints them (a duplicate's is the id of
    the job holding its unique key) and, with --json, "duplicate" (and "replaced") when
    a job was one: a boolean for one job, one per id for many (--file)."""
    ids = [answer.id for answer in answers]
    if not as_json:
        print_ids(ids, False)
    else:
        data: dict[str, Any] = {"ids": ids}
        if any(answer.duplicate for answer in answers):
            if bulk:
                data["duplicate"] = [answer.duplicate for answer in answers]
                data["replaced"] = [answer.replaced for answer in answers]
            else:
                data["duplicate"] = answers[0].duplicate
                data["replaced"] = answers[0].replaced
        echo_json(data)
    if not bulk:
        for answer in answers:
            if answer.note:
                warn(answer.note)


def echo_json(data: Any) -> None:
    """Indented JSON, encoded by msgspec: several times faster than json.dumps on big
    listings (`list --json` of 20,000 jobs)."""
    import msgspec

    sys.stdout.buffer.write(msgspec.json.format(msgspec.json.encode(data), indent=2) + b"\n")
    sys.stdout.flush()


def when(ts: float | None, short: bool = False) -> str:
    """A time for a table: local time (the zone is named in the column header, see
    `zone_name`), to the second, with `(in 2h 15m)` for the next day."""
    if ts is None:
        return "-"
    text = datetime.fromtimestamp(ts).strftime("%m-%d %H:%M:%S" if short else "%Y-%m-%d %H:%M:%S")
    ahead = ts - time.time()
    return f"{text} ({relative(ahead)})" if 0 < ahead < 86_400 else text


def when_zoned(ts: float | None) -> str:
    """A time for `show`: local, naming its zone, and how far from now (`3m ago`)."""
    if ts is None:
        return "-"
    return f"{stamp(ts)} ({relative(ts - time.time())})"


def table_when(ts: float | None, short: bool = False, wide: bool = False) -> str:
    """`when`, but a time of today shows as the clock alone (`14:05:09`) so that a plain
    listing fits 80 columns; `wide` keeps the date always."""
    text = when(ts, short)
    if wide or ts is None:
        return text
    moment = datetime.fromtimestamp(ts)
    if moment.date() != date.today():
        return text
    return text.removeprefix(moment.strftime("%m-%d " if short else "%Y-%m-%d "))


def zone_name() -> str:
    """The local time zone's name as tables show it: `UPDATED (CET)`."""
    return datetime.now().astimezone().strftime("%Z") or "local"


def print_table(
    title: str | None,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    wide: bool = False,
) -> None:
    """Columns named with a trailing `~` are free text: they alone shrink (with `…`) when
    the terminal is narrow (never when `wide`), and nothing is cut in a pipe. A STATE
    column is coloured."""
    from queuectl.cli.table import Column, render

    spec = [
        Column(
            name.rstrip("~"),
            free=name.endswith("~"),
            style=STATE_STYLES.get if name == "STATE" else None,
        )
        for name in columns
    ]
    lines = render(spec, rows, wide)
    if title:
        lines.insert(0, title)
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


def _optional_columns(
    columns: list[str], rows: list[list[str]], keep: Sequence[bool]
) -> tuple[list[str], list[list[str]]]:
    """The table without the columns whose `keep` is False."""
    columns = [name for name, kept in zip(columns, keep, strict=True) if kept]
    rows = [[cell for cell, kept in zip(row, keep, strict=True) if kept] for row in rows]
    return columns, rows


def _state(value: str) -> str:
    return value


def plain_text(text: str) -> str:
    """Text as a table cell or a line may show it: control characters escaped."""
    return _plain(text)


def _plain(text: str) -> str:
    return text.replace("\n", " ").replace("\r", " ").replace("\t", " ")


def print_jobs(
    jobs: Sequence[Job],
    as_json: bool,
    title: str | None = None,
    wide: bool = False,
    held_back: dict[str, str] | None = None,
) -> None:
    """A plain listing fits 80 columns for everyday jobs: today's times as the clock, the
    QUEUE column only for several queues, RUN AT only for jobs due at another time than
    their last change, as a span from now while ahead. `wide` shows every column, dates
    in full."""
    if as_json:
        held = held_back or {}
        echo_json([serialize.job_dict(job, held.get(job.id)) for job in jobs])
        return
    if not jobs:
        echo("no jobs")
        return
    zone = zone_name()
    columns = ["ID", "STATE", "ATTEMPTS", "PRI", "QUEUE", f"UPDATED ({zone})"]
    columns += [f"RUN AT ({zone})", "COMMAND~"]
    rows = []
    for job in jobs:
        state = "blocked" if job.blocked else job.state.value
        row = [_plain(job.id), _state(state), f"{job.attempts}/{job.max_retries + 1}"]
        row += [str(job.priority), _plain(job.queue)]
        row.append(table_when(job.updated_at, short=True, wide=wide))
        row.append(_run_at_cell(job, wide))
        rows.append([*row, _plain(job.command)])
    several_queues = len({job.queue for job in jobs}) > 1
    waiting = any(row[6] for row in rows)
    if not wide and all(not row[6] or row[6].startswith("in ") for row in rows):
        columns[6] = "RUN AT"  # spans from now only: no zone to name
    keep = [True] * 4 + [wide or several_queues, True, waiting, True]
    columns, rows = _optional_columns(columns, rows, keep)
    print_table(title, columns, rows, wide)


def _run_at_cell(job: Job, wide: bool) -> str:
    """When a waiting job is due: always with `wide`, else only when that is not the
    moment of its last change (a job waiting its turn since it was enqueued shows none),
    and when still ahead as the span alone (`in 19h 57m`, `in 2d 23h`), which keeps the
    line in 80 columns (`show` and `--wide` give the time)."""
    if job.state.value not in ("pending", "failed"):
        return ""
    if wide:
        return table_when(job.run_at, short=True, wide=True)
    if abs(job.run_at - job.updated_at) < 1:
        return ""
    ahead = job.run_at - time.time()
    if ahead >= 1:
        return relative(ahead)
    return table_when(job.run_at, short=True)


# The job's times, which `show` prints in local time with their zone (JSON keeps UTC).
_TIME_FIELDS = frozenset({"run_at", "created_at", "updated_at", "lease_expires_at"})


def print_job(
    job: Job,
    attempts: Sequence[Attempt],
    as_json: bool,
    links: Links | None = None,
    held_back: str | None = None,
) -> None:
    if as_json:
        echo_json(serialize.job_show_dict(job, attempts, links, held_back))
        return
    from queuectl.cli.errors import one_line

    for key, linked in (("after", links.after), ("dependents", links.dependents)) if links else ():
        if linked:
            shown = ", ".join(f"{_plain(j.id)} ({j.state or 'deleted'})" for j in linked)
            echo(f"{key + ':':<18}{one_line(shown)}")
    for key, value in serialize.job_dict(job, held_back).items():
        if key in _TIME_FIELDS and value is not None:
            shown = when_zoned(getattr(job, key))
        elif value is not None:
            shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        else:
            continue
        echo(f"{key + ':':<18}{one_line(shown)}")
    for attempt in attempts:
        outcome = attempt.error or (
            f"exit {attempt.exit_code}" if attempt.finished_at else "running"
        )
        echo(
            f"\nattempt {attempt.attempt} on {one_line(str(attempt.worker_id))}: "
            f"{one_line(outcome)}\n"
            f"  started {when_zoned(attempt.started_at)}, "
            f"finished {when_zoned(attempt.finished_at)}"
        )
        for name, stream in (("stdout", attempt.stdout), ("stderr", attempt.stderr)):
            if stream:  # lines and tabs kept, escapes and other controls shown escaped
                echo(f"  --- {name} (tail) ---")
                tail = stream[-serialize.SHOW_TAIL_BYTES :]
                text = one_line(tail.decode("utf-8", "replace"), keep="\n\t")
                echo(_indent(text))


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.rstrip("\n").splitlines())


def print_workers(
    workers: Sequence[WorkerInfo],
    as_json: bool,
    wide: bool = False,
    processes: Mapping[str, Sequence[int]] | None = None,
) -> None:
    """Plain: HOST and PID only when a worker's id does not already begin with them, STOP
    only when a worker was told to stop, PROCS only when a worker runs in more than one
    process (`processes`: their pids by worker id, known for this host's workers), today's
    times as the clock; `wide`: everything."""
    processes = processes or {}
    if as_json:
        shown = [serialize.worker_dict(w) for w in workers]
        for entry in shown:
            if entry["id"] in processes:
                entry["processes"] = list(processes[entry["id"]])
        echo_json(shown)
        return
    if not workers:
        echo("no workers")
        return
    rows = [
        [
            w.id,
            w.host,
            str(w.pid),
            ",".join(w.queues) or "*",
            f"{w.busy}/{w.slots}" + (f" +{w.reserved} reserved" if w.reserved else ""),
            table_when(w.started_at, wide=wide),
            table_when(w.heartbeat_at, wide=wide),
            w.stop_requested or "",
            _procs_cell(processes.get(w.id)),
        ]
        for w in workers
    ]
    zone = zone_name()
    columns = ["ID", "HOST", "PID", "QUEUES", "RUNNING", f"STARTED ({zone})", f"HEARTBEAT ({zone})"]
    columns += ["STOP", "PROCS"]
    named = wide or any(not w.id.startswith(f"{w.host}-{w.pid}") for w in workers)
    stopping = wide or any(w.stop_requested for w in workers)
    several = wide or any(len(pids) > 1 for pids in processes.values())
    keep = [True, named, named, True, True, True, True, stopping, several]
    columns, rows = _optional_columns(columns, rows, keep)
    print_table(None, columns, rows, wide)


def _procs_cell(pids: Sequence[int] | None) -> str:
    """`2 (pids 4711 4712)` for a worker in several processes; `1` for one; `` unknown."""
    if not pids:
        return ""
    return f"{len(pids)} (pids {' '.join(map(str, pids))})" if len(pids) > 1 else "1"


def print_status(report: Status, as_json: bool) -> None:
    if as_json:
        echo_json(serialize.status_dict(report))
        return
    counts = report.counts.by_state
    rows = [[_state(state.value), str(n)] for state, n in counts.items()]
    rows.append(["total", str(sum(counts.values()))])
    print_table("Jobs", ["STATE", "COUNT"], rows)
    if report.counts.scheduled:
        echo(f"\n{report.counts.scheduled} pending job(s) scheduled for later")
    if report.counts.blocked:
        echo(f"\n{report.counts.blocked} pending job(s) blocked, waiting for other jobs")
    if report.paused:
        names = "every queue" if "*" in report.paused else ", ".join(report.paused)
        echo(f"\nPaused: {names} (queuectl resume to go on)")
    for name, why in report.held_back.items():
        echo(f"\nHeld back: {name}: {why}")
    if report.last_prune is not None:
        prune = report.last_prune
        ago = relative(prune.started_at - report.now)
        echo(f"\nLast prune: {ago}, {prune.removed} finished job(s) removed")
    alive, busy, slots = len(report.workers), report.slots_busy, report.slots
    reserve = f", {report.slots_reserved} job(s) in reserve" if report.slots_reserved else ""
    echo(f"\nWorkers alive: {alive} ({busy}/{slots} slots busy{reserve})")


def warn(message: str) -> None:
    print(message, file=sys.stderr)


def say_brought_back(ids: Sequence[str]) -> None:
    """After a requeue: the jobs that came back with it (they had been cancelled only
    because a job they run after ended)."""
    if ids:
        shown = ", ".join(_plain(i) for i in ids)
        echo(f"also back to pending ({len(ids)}, run after those): {shown}")

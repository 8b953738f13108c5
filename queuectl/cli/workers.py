"""Worker commands: start (foreground or --detach), stop, list; and the demo."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import click

from queuectl import service
from queuectl.cli import output
from queuectl.cli.app import completer, hidden_alias, wide_option
from queuectl.cli.context import App, pass_app
from queuectl.cli.params import Duration
from queuectl.store import default_db_path, resolve_url


@click.group()
def worker() -> None:
    """Start, stop and list workers."""


@worker.command("start")
@click.option(
    "--count",
    "-c",
    type=click.IntRange(1, 256),
    default=None,
    help="Jobs run at the same time (default: config worker-count, 1).",
)
@click.option(
    "--procs",
    "-p",
    type=click.IntRange(1, 256),
    default=None,
    help="Processes to run the slots in (default: one per 4 slots, at most one per core; "
    "1: one process).",
)
@click.option(
    "--queue",
    "queues",
    multiple=True,
    help="Only these queues (repeatable; default: all).",
    shell_complete=completer("complete_queues"),
)
@click.option(
    "--burst", is_flag=True, help="Exit 0 once no job is due, running or awaiting a retry."
)
@click.option(
    "--detach",
    is_flag=True,
    help="Run in the background; print the pid and the log file (one per database).",
)
@click.option("--quiet", "-q", is_flag=True, help="Log warnings and errors only.")
@click.option(
    "--verbose", "-v", is_flag=True, help="Also log claims, reserves, lease renewals and waits."
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Lines for people, or one JSON object per line (with each job event's fields).",
)
@click.option("--log-file", type=click.Path(path_type=Path), hidden=True)  # set by --detach
@pass_app
def worker_start(
    app: App,
    count: int | None,
    procs: int | None,
    queues: tuple[str, ...],
    burst: bool,
    detach: bool,
    quiet: bool,
    verbose: bool,
    log_format: str,
    log_file: Path | None,
) -> None:
    """Run jobs: claim, run, retry with backoff, dead-letter. Foreground by default.

    Stop with Ctrl-C / SIGTERM / `queuectl worker stop`: running jobs finish first (up to
    config grace-period). A second signal kills them and puts them back as pending.

    With more than one process (--procs), the slots are shared out among them under one
    supervisor: one worker in `worker list`, one log, one stop.
    """
    from queuectl.spec import is_queue_name

    for name in queues:
        if not is_queue_name(name):  # no job could ever be in it: the worker would idle
            raise click.BadParameter(
                f"bad queue name {name!r} (letters, digits, ._:-)", param_hint="'--queue'"
            )
    verbosity = -1 if quiet else 1 if verbose else 0
    app.may_create = True  # a worker may be started before the first job is enqueued
    if procs is not None and count is not None and procs > count:
        raise click.BadParameter(
            f"{procs} processes for {count} slot(s): at most one process per slot",
            param_hint="'--procs'",
        )
    if count is None:
        count = service.settings(app.store).worker_count
    from queuectl.worker_options import default_procs

    if procs is None:
        procs = default_procs(count)
    elif procs > count:  # --count from the config
        raise click.BadParameter(
            f"{procs} processes for {count} slot(s) (config worker-count): at most one "
            "process per slot",
            param_hint="'--procs'",
        )
    if detach:
        _detach(app, count, procs, queues, burst, verbosity, log_format)
        return
    from queuectl.cli import worker_log
    from queuectl.worker_options import WorkerOptions

    worker_log.configure(verbosity, log_format, log_file)
    options = WorkerOptions(slots=count, queues=list(queues) or None, burst=burst)
    app.close()  # the worker opens its own; a supervisor's forks must not copy this one
    if procs == 1:
        from queuectl.worker import Worker

        sys.exit(Worker(app.db, options).run())
    from queuectl.supervisor import Supervisor

    supervisor = Supervisor(app.db, options, procs, worker_log.style(), worker_log.forward)
    sys.exit(supervisor.run())


def _detach(
    app: App,
    count: int,
    procs: int,
    queues: tuple[str, ...],
    burst: bool,
    verbosity: int,
    log_format: str,
) -> None:
    from queuectl.cli.worker_log import detached_log_path

    url = resolve_url(app.db)
    service.ping(app.store)  # fail here, with a clear message, rather than in a log file
    app.warn_if_not_durable()  # the worker logs it too, but in its log file
    log_path = detached_log_path(url)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # The URL goes through the environment: in argv, `ps` would show its password.
    args = [sys.executable, "-m", "queuectl", "worker", "start", "--count", str(count)]
    args += ["--procs", str(procs)]
    for name in queues:
        args += ["--queue", name]
    if burst:
        args.append("--burst")
    args += ["--log-format", log_format, "--log-file", str(log_path)]
    args += {-1: ["--quiet"], 1: ["--verbose"]}.get(verbosity, [])
    with open(log_path, "ab") as log:
        child = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            env={**os.environ, "QUEUECTL_DB": url},
        )
    # Wait until it has registered, so a failure to start is reported here.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise click.ClickException(
                f"worker exited at start (code {child.returncode}); see {log_path}"
            )
        if service.worker_registered(app.store, child.pid):
            break
        time.sleep(0.05)
    click.echo(child.pid)
    output.warn(f"worker started in the background; log: {log_path}")


@worker.command("stop")
@click.option("--now", is_flag=True, help="Kill running jobs and put them back as pending.")
@click.option(
    "--timeout",
    type=Duration(),
    default=None,
    help="How long to wait for them to exit: 90, 30s, 5m (default: grace-period + 10 s).",
)
@click.option(
    "--json", "as_json", is_flag=True, help='Print {"stopped": [...], "dead": [...], ...}.'
)
@pass_app
def worker_stop(app: App, now: bool, timeout: float | None, as_json: bool) -> None:
    """Stop every worker using this database, on any host; waits and reports."""
    from queuectl.cli.stopping import stop_workers
    from queuectl.worker_options import default_host

    wait = timeout if timeout is not None else service.settings(app.store).grace_period + 10
    report = stop_workers(app.store, now, wait, default_host())
    if as_json:
        import msgspec

        output.echo_json(msgspec.to_builtins(report))
        if report.remaining:
            sys.exit(1)
        return
    asked = len(report.stopped) + len(report.dead) + len(report.remaining)
    if not asked:
        click.echo("no workers running")
        return
    if report.dead:
        output.warn(
            f"{len(report.dead)} worker(s) already dead (process gone), marked dead: "
            + ", ".join(report.dead)
        )
    if report.remaining:
        raise click.ClickException(
            f"{len(report.stopped)} of {asked} worker(s) stopped; still running after "
            f"{wait:g}s: {', '.join(report.remaining)}"
        )
    click.echo(f"stopped {len(report.stopped)} worker(s)")


@worker.command("list")
@click.option(
    "--all", "include_dead", is_flag=True, help="Include workers whose heartbeat stopped."
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@wide_option
@pass_app
def worker_list(app: App, include_dead: bool, as_json: bool, wide: bool) -> None:
    """Workers with a fresh heartbeat: id, queues, running jobs, started, heartbeat (HOST
    and PID when the id does not name them, STOP when asked to stop, PROCS when one runs
    in several processes; --wide: everything)."""
    from queuectl.worker_members import member_pids
    from queuectl.worker_options import default_host

    found = service.workers(app.store, include_dead)
    here = default_host()
    # A worker's processes can be seen only on its own host (/proc): elsewhere, none shown.
    processes = {w.id: member_pids(w.pid) or [w.pid] for w in found if w.host == here}
    output.print_workers(found, as_json, wide, processes)


worker_start_alias = hidden_alias(worker_start, "worker-start")
worker_stop_alias = hidden_alias(worker_stop, "worker-stop")


@click.command()
@click.option(
    "--count", type=click.IntRange(1, 16), default=2, show_default=True, help="Worker slots."
)
@click.pass_context
def demo(ctx: click.Context, count: int) -> None:
    """Show queuectl at work on a fresh demo database (your own queue is not touched).

    Enqueues five sample jobs (one fails into the DLQ after its retries, one times out),
    runs a burst worker until all are done, and prints the status and the DLQ. With
    --db it runs there instead, in a queue of its own, `queuectl-demo` (an exported
    QUEUECTL_DB is ignored: the demo never writes to your queue unless asked to).
    """
    app: App = ctx.obj
    app.may_create = True
    suffix = ""
    if app.db is None or app.db_from_env:
        path = default_db_path().parent / "demo.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        for end in ("", "-wal", "-shm"):
            path.with_name(path.name + end).unlink(missing_ok=True)
        app.db = str(path)
        service.config_set(app.store, "backoff-base", "1.5")  # short retries, demo only
    else:
        suffix = "-" + os.urandom(3).hex()  # your database: ids that cannot collide
    store = app.store
    ids = service.enqueue(store, service.demo_jobs(suffix))
    click.echo(f"demo database: {app.db}\nenqueued {len(ids)} jobs: {', '.join(ids)}\n")
    worker = [sys.executable, "-m", "queuectl", "worker", "start", "--burst"]
    worker += ["--queue", service.DEMO_QUEUE, "--count", str(count)]
    code = subprocess.call(worker, env={**os.environ, "QUEUECTL_DB": app.db})
    if code != 0:
        raise click.ClickException(f"the demo worker exited with code {code}")
    click.echo("")
    output.print_status(service.status(store), as_json=False)
    click.echo("")
    every, dead = service.demo_results(store)
    output.print_jobs(every, as_json=False, title="Demo jobs")
    click.echo("")
    output.print_jobs(dead, as_json=False, title="Dead letter queue")
    click.echo(f"\nTry: queuectl --db {app.db} show demo-fail{suffix}")

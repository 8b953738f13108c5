"""Worker commands: start (foreground or --detach), stop, list; and the demo."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from typing import Any

import click

from queuectl import service
from queuectl.cli import output
from queuectl.cli.app import App, hidden_alias, pass_app
from queuectl.models import JobState
from queuectl.store import default_db_path, resolve_url


@click.group()
def worker() -> None:
    """Start, stop and list workers."""


@worker.command("start")
@click.option(
    "--count",
    "-c",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="Jobs run at the same time.",
)
@click.option(
    "--queue", "-q", "queues", multiple=True, help="Only these queues (repeatable; default: all)."
)
@click.option(
    "--burst", is_flag=True, help="Exit 0 once no job is due, running or awaiting a retry."
)
@click.option(
    "--detach", is_flag=True, help="Run in the background; print the pid; log to the data dir."
)
@pass_app
def worker_start(app: App, count: int, queues: tuple[str, ...], burst: bool, detach: bool) -> None:
    """Run jobs: claim, run, retry with backoff, dead-letter. Foreground by default.

    Stop with Ctrl-C / SIGTERM / `queuectl worker stop`: running jobs finish first (up to
    config grace-period). A second signal kills them and puts them back as pending.
    """
    if detach:
        _detach(app, count, queues, burst)
        return
    from queuectl.worker import Worker, WorkerOptions

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LineFormat("%(asctime)s %(levelname)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    options = WorkerOptions(slots=count, queues=list(queues) or None, burst=burst)
    code = Worker(app.db, options).run()
    sys.exit(code)


class _LineFormat(logging.Formatter):
    """Log lines with `2026-11-22 21:52:26,851` times, formatting each second only once:
    a busy worker writes two lines per job, and strftime was a tenth of its time."""

    _second = -1
    _text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._text = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        return f"{self._text},{int(record.msecs):03d}"


def _detach(app: App, count: int, queues: tuple[str, ...], burst: bool) -> None:
    url = resolve_url(app.db)
    app.store.ping()  # fail here, with a clear message, rather than in a log file
    log_path = default_db_path().parent / "worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # The URL goes through the environment: in argv, `ps` would show its password.
    args = [sys.executable, "-m", "queuectl", "worker", "start", "--count", str(count)]
    for name in queues:
        args += ["--queue", name]
    if burst:
        args.append("--burst")
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
        if any(w.pid == child.pid for w in app.store.list_workers()):
            break
        time.sleep(0.05)
    click.echo(child.pid)
    output.warn(f"worker started in the background; log: {log_path}")


@worker.command("stop")
@click.option("--now", is_flag=True, help="Kill running jobs and put them back as pending.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds to wait for them to exit (default: grace-period + 10).",
)
@pass_app
def worker_stop(app: App, now: bool, timeout: float | None) -> None:
    """Stop every worker using this database, on any host; waits and reports."""
    from queuectl.worker import default_host

    wait = timeout if timeout is not None else service.settings(app.store).grace_period + 10
    asked, remaining = service.stop_workers(app.store, now, wait, default_host())
    if not asked:
        click.echo("no workers running")
        return
    if remaining:
        raise click.ClickException(
            f"{asked - len(remaining)} of {asked} worker(s) stopped; still running after "
            f"{wait:g}s: {', '.join(remaining)}"
        )
    click.echo(f"stopped {asked} worker(s)")


@worker.command("list")
@click.option(
    "--all", "include_dead", is_flag=True, help="Include workers whose heartbeat stopped."
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_app
def worker_list(app: App, include_dead: bool, as_json: bool) -> None:
    """Workers with a fresh heartbeat: id, host, pid, started, heartbeat, running jobs."""
    output.print_workers(service.live_workers(app.store, include_dead), as_json)


worker_start_alias = hidden_alias(worker_start, "worker-start")
worker_stop_alias = hidden_alias(worker_stop, "worker-stop")


DEMO_QUEUE = "queuectl-demo"
DEMO_JOBS: list[dict[str, Any]] = [
    {"id": "demo-hello", "command": "echo 'hello from queuectl'"},
    {"id": "demo-sleep", "command": "sleep 1 && echo 'slept 1s'", "priority": 5},
    {"id": "demo-count", "command": "for i in 1 2 3; do echo step $i; done"},
    {"id": "demo-fail", "command": "echo 'about to fail' >&2; exit 3", "max_retries": 2},
    {"id": "demo-timeout", "command": "sleep 30", "timeout": 0.5, "max_retries": 0},
]


@click.command()
@click.option(
    "--count", type=click.IntRange(1, 16), default=2, show_default=True, help="Worker slots."
)
@click.pass_context
def demo(ctx: click.Context, count: int) -> None:
    """Show queuectl at work on a fresh demo database (your own queue is not touched).

    Enqueues five sample jobs (one fails into the DLQ after its retries, one times out),
    runs a burst worker until all are done, and prints the status and the DLQ. With
    --db (or QUEUECTL_DB) it runs there instead, in a queue of its own, `queuectl-demo`.
    """
    from queuectl.spec import spec_from_mapping, to_new_job

    app: App = ctx.obj
    suffix = ""
    if app.db is None:
        path = default_db_path().parent / "demo.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        for end in ("", "-wal", "-shm"):
            path.with_name(path.name + end).unlink(missing_ok=True)
        app.db = str(path)
        service.config_set(app.store, "backoff-base", "1.5")  # short retries, demo only
    else:
        suffix = "-" + os.urandom(3).hex()  # your database: ids that cannot collide
    store = app.store
    specs = [{**job, "id": job["id"] + suffix, "queue": DEMO_QUEUE} for job in DEMO_JOBS]
    ids = service.enqueue(store, [to_new_job(spec_from_mapping(s)) for s in specs])
    click.echo(f"demo database: {app.db}\nenqueued {len(ids)} jobs: {', '.join(ids)}\n")
    worker = [sys.executable, "-m", "queuectl", "worker", "start", "--burst"]
    worker += ["--queue", DEMO_QUEUE, "--count", str(count)]
    code = subprocess.call(worker, env={**os.environ, "QUEUECTL_DB": app.db})
    if code != 0:
        raise click.ClickException(f"the demo worker exited with code {code}")
    click.echo("")
    output.print_status(service.status(store), as_json=False)
    click.echo("")
    output.print_jobs(store.list_jobs(queue=DEMO_QUEUE), as_json=False, title="Demo jobs")
    click.echo("")
    output.print_jobs(
        store.list_jobs(state=JobState.DEAD, queue=DEMO_QUEUE),
        as_json=False,
        title="Dead letter queue",
    )
    click.echo(f"\nTry: queuectl --db {app.db} show demo-fail{suffix}")

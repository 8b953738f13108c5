"""Commands that watch jobs: logs (whole, --tail N, --follow) and metrics."""

from __future__ import annotations

import os
import sys
import tempfile

import click
import msgspec

from queuectl.cli import reading
from queuectl.cli.app import completer
from queuectl.cli.context import App, pass_app
from queuectl.cli.last_job import last_option, one_job


@click.command()
@click.argument("job_id", required=False, shell_complete=completer("complete_job_ids"))
@last_option
@click.option("--attempt", type=click.IntRange(min=0), help="This attempt instead of the last.")
@click.option(
    "-f",
    "--follow",
    is_flag=True,
    help="Go on printing new output while the attempt runs; exit with its exit status.",
)
@click.option(
    "--tail",
    "lines",
    type=click.IntRange(min=0),
    metavar="N",
    help="Only the last N lines of each stream (with --follow: of what came so far).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print {attempt, stdout, stderr, running, exit_code, error} (not with --follow).",
)
@pass_app
def logs(
    app: App,
    job_id: str | None,
    last: bool,
    attempt: int | None,
    follow: bool,
    lines: int | None,
    as_json: bool,
) -> None:
    """A job's output: stdout here, stderr on stderr. A running job's output so far (its
    worker shares it about once a second); --follow prints it as it comes, like tail -f."""
    if follow and as_json:
        raise click.UsageError("--json prints the output once: not with --follow")
    job_id = one_job(app, job_id, last)
    if follow:
        _follow(app, job_id, attempt, lines)
        return
    reading.print_logs(app, job_id, attempt, lines, as_json)


def _follow(app: App, job_id: str, attempt: int | None, lines: int | None) -> None:
    from queuectl.service import observe

    seen: set[str] = set()
    for item in observe.follow_output(app.store, job_id, attempt):
        if isinstance(item, observe.End):
            sys.exit(exit_status(item.exit_code))  # click would swallow ctx.exit(N)
        data = item.data
        if item.stream not in seen:  # the first chunk of a stream is all of it so far
            seen.add(item.stream)
            data = reading.last_lines(data, lines)
        stream = sys.stdout.buffer if item.stream == "stdout" else sys.stderr.buffer
        reading.write_bytes(stream, data)


def exit_status(exit_code: int | None) -> int:
    """The shell's convention: the code itself, 128 + N for signal N, 1 when there was no
    exit at all (the command could not start, or its worker was lost)."""
    if exit_code is None:
        return 1
    if exit_code < 0:
        return 128 + min(-exit_code, 127)
    return min(exit_code, 255)


@click.command()
@click.option(
    "--output",
    "-o",
    metavar="FILE",
    help="Write to FILE instead, atomically (a temporary file renamed over it), so "
    "node_exporter's textfile collector never reads half a file.",
)
@pass_app
def metrics(app: App, output: str | None) -> None:
    """Print every metric once, in the Prometheus text format (no server needed)."""
    from queuectl.service import observe

    text = observe.metrics_text(app.store)
    if output is None:
        click.echo(text, nl=False)
        return
    folder = os.path.dirname(os.path.abspath(output))
    try:
        fd, temp = tempfile.mkstemp(prefix=".queuectl-metrics-", dir=folder)
    except OSError as err:
        raise click.ClickException(f"cannot write {output}: {err.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temp, 0o644)
        os.replace(temp, output)
    except OSError as err:
        os.unlink(temp)
        raise click.ClickException(f"cannot write {output}: {err.strerror}") from None


@click.command("groups")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_app
def dlq_groups(app: App, as_json: bool) -> None:
    """Dead jobs grouped by how they failed (kind of error, exit code, last line of
    stderr with numbers, ids, paths and times made alike), largest first; the newest
    1000 dead jobs are grouped. `dlq retry --group KEY` retries one group."""

    from queuectl.cli import output
    from queuectl.service import dlq_groups as groups_

    found = groups_.dlq_groups(app.store)
    if as_json:
        output.echo_json([msgspec.to_builtins(g) for g in found.groups])
        return
    rows = [
        [
            g.key,
            str(g.count),
            g.kind,
            "" if g.exit_code is None else str(g.exit_code),
            g.line or g.error or "",
            g.newest_job_id,
        ]
        for g in found.groups
    ]
    columns = ["KEY", "JOBS", "KIND", "EXIT", "LAST STDERR LINE (OR ERROR)", "NEWEST"]
    output.print_table("Dead jobs by failure", columns, rows)
    if found.fingerprinted < found.dead:
        output.warn(f"(grouped the newest {found.fingerprinted} of {found.dead} dead jobs)")

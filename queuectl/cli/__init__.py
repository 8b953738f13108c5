"""The `queuectl` command line: parse, call a service function, print.

Every expected failure is a QueueError or a Click usage error; `main` turns either into
one line on stderr and a non-zero exit (1: the operation failed, 2: bad usage).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from queuectl.cli.errors import fail, one_line, silence_stdout

if TYPE_CHECKING:
    from queuectl.cli.app import cli

__all__ = ["cli", "fail", "main", "one_line"]


def __getattr__(name: str) -> Any:
    """`cli` (the Click app) loads on first use: the fast path never needs it."""
    if name == "cli":
        from queuectl.cli.app import cli

        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script and `python -m queuectl`. Whatever the way out,
    stdout is flushed here: a reader that left (`queuectl --help | true`) is not an error,
    and the interpreter's own last flush must not find anything left to fail on.

    Without `argv` the process is queuectl's own (the console script, `python -m`): a
    command the fast path ran then ends it at once (leave_now) rather than returning."""
    if sys.stdout is None:  # started with stdout closed (`>&-`): nobody reads, as when a
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  reader left; the work still counts
    try:
        _main(argv)
    except SystemExit as done:
        _flush_quietly()
        # Click answers a broken pipe while printing help (`--help | true`) with exit 1,
        # after wrapping stdout to keep quiet: the reader left, which is not a failure.
        if done.code == 1 and type(sys.stdout).__name__ == "_PacifyFlushWrapper":
            sys.exit(0)
        raise
    _flush_quietly()


def leave_now(code: int) -> None:
    """End the process with `code` once stdout and stderr are flushed, skipping the
    interpreter's tear-down: after a fast-path command (store closed, output written)
    there is nothing left to finish, and freeing every module and object of a database
    driver one by one costs a quarter of a PostgreSQL or Redis `enqueue`. Only for a
    process that is queuectl's alone (no caller's code runs after us)."""
    for stream in (sys.stdout, sys.stderr):
        if stream is None:  # started with that descriptor closed
            continue
        try:
            stream.flush()
        except BrokenPipeError:  # the reader left: not a failure (as _flush_quietly)
            pass
        except ValueError:  # already closed
            pass
    os._exit(code)


def _flush_quietly() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        silence_stdout()
    except ValueError:  # stdout already closed
        pass


def _run_fast(argv: list[str] | None) -> bool:
    """Run argv on the fast path if it takes it (False: Click's to run). In queuectl's
    own process (no `argv`) the process ends there, with the command's exit code."""
    from queuectl.cli import fast

    own_process = argv is None
    try:
        ran = fast.run(sys.argv[1:] if argv is None else argv)
    except SystemExit as done:  # the fast path's error exit
        if own_process and isinstance(done.code, int | None):
            leave_now(done.code or 0)
        raise
    if ran and own_process:
        leave_now(0)
    return ran


def _main(argv: list[str] | None) -> None:
    if _run_fast(argv):
        return
    import click

    from queuectl.cli.app import cli
    from queuectl.errors import QueueError

    try:
        cli.main(args=argv, prog_name="queuectl", standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.exceptions.NoArgsIsHelpError as err:  # `queuectl`, `queuectl worker`
        try:
            click.echo(err.ctx.get_help() if err.ctx else cli.get_help(click.Context(cli)))
        except BrokenPipeError:
            silence_stdout()
        sys.exit(0)
    except click.exceptions.Abort:
        fail("aborted", 130)
    except click.UsageError as err:
        hint = f" (see '{err.ctx.command_path} --help')" if err.ctx else ""
        message = " ".join(err.format_message().split())  # Click's may span lines
        fail(f"{message}{hint}", 2)
    except click.ClickException as err:
        fail(err.format_message(), err.exit_code)
    except QueueError as err:
        fail(str(err), 1)
    except UnicodeEncodeError:  # undecodable bytes in an argument reach the database driver
        fail("arguments must be valid UTF-8 text", 1)
    except BrokenPipeError:  # `queuectl list | head`: the reader left, nothing to report
        silence_stdout()
        sys.exit(0)
    except KeyboardInterrupt:
        sys.exit(130)

"""A fast path for the commands people and scripts run most: `enqueue` (a SPEC, or a plain
command after `--`, with its common options), `list`, `show`, `logs` and `status`,
without importing Click (a third of their start-up).

The command line is read once, by OPTIONS below: the options each command has here, with
the names and kinds the Click commands give them; values are read by the functions the
Click option types call (values.py, timefmt, service). Whatever it does not know or
cannot read (another option, such as one added to the Click command later, `--help`, a
value or a usage Click would refuse, `--watch`, `--follow`, `--file`) returns None before
anything is done, and the Click app reads the whole command line, errors included. What
a command does and prints, and its errors, are the Click path's: both call the same
functions (spec_arg.py, reading.py), and errors go through the same one-line `fail`.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from queuectl.cli.context import App

FLAG, VALUE, MANY = "flag", "value", "many"  # an option's kind: as is_flag, plain, multiple
Spec = tuple[str, str]  # an option's name and kind

# Per command: option spelling -> (name, kind). `--db` goes with every command, as in
# cli/app.py. A test checks each against the Click command's own option.
OPTIONS: dict[str, dict[str, Spec]] = {
    "enqueue": {
        "--id": ("id", VALUE),
        "--priority": ("priority", VALUE),
        "--run-at": ("run_at", VALUE),
        "--delay": ("delay", VALUE),
        "--timeout": ("timeout", VALUE),
        "--max-retries": ("max_retries", VALUE),
        "--queue": ("queue", VALUE),
        "--cwd": ("cwd", VALUE),
        "--env": ("env", MANY),
        "--env-all": ("env_all", FLAG),
        "--concurrency-key": ("concurrency_key", VALUE),
        "--json": ("json", FLAG),
    },
    "list": {
        "--state": ("state", MANY),
        "--queue": ("queue", VALUE),
        "--search": ("search", VALUE),
        "--id-prefix": ("id_prefix", VALUE),
        "--oldest": ("oldest", FLAG),
        "--limit": ("limit", VALUE),
        "--json": ("json", FLAG),
        "--wide": ("wide", FLAG),
        "-w": ("wide", FLAG),
    },
    "show": {"--last": ("last", FLAG), "--json": ("json", FLAG)},
    "logs": {
        "--last": ("last", FLAG),
        "--attempt": ("attempt", VALUE),
        "--tail": ("tail", VALUE),
        "--json": ("json", FLAG),
    },
    "status": {"--queue": ("queue", VALUE), "--json": ("json", FLAG)},
}
ARGUMENTS = {"enqueue": 1, "list": 0, "show": 1, "logs": 1, "status": 0}  # at most
_DB = ("db", VALUE)


class Call:
    """A command line as read: the command, its database, its options' raw values (a
    list for MANY), its arguments, and for `enqueue -- CMD` the words after `--`. (Not a
    dataclass: importing dataclasses costs as much as the rest of this module's work.)"""

    def __init__(self, command: str, db: str | None, db_from_env: bool) -> None:
        self.command = command
        self.db = db
        self.db_from_env = db_from_env
        self.values: dict[str, Any] = {}
        self.arguments: list[str] = []
        self.words: list[str] | None = None


def parse(argv: Sequence[str]) -> Call | None:
    """The Call argv makes, if the fast path knows every word of it, else None. `db` is
    the last --db given (before or after the command's name), else QUEUECTL_DB (empty =
    unset, as in Click)."""
    if "_QUEUECTL_COMPLETE" in os.environ:  # a shell asking Click for completions
        return None
    args = list(argv)
    db: str | None = os.environ.get("QUEUECTL_DB") or None
    from_env = db is not None
    while args and (args[0] == "--db" or args[0].startswith("--db=")):
        option = _option(args, {"--db": _DB})
        if option is None:
            return None
        db, from_env = option[1], False
    if not args or args[0] not in OPTIONS:
        return None
    call = Call(args[0], db, from_env)
    rest = args[1:]
    if "--" in rest:  # enqueue's plain command; as EnqueueCommand cuts it, at the first
        if call.command != "enqueue":
            return None
        cut = rest.index("--")
        rest, call.words = rest[:cut], rest[cut + 1 :]
    known = {**OPTIONS[call.command], "--db": _DB}
    while rest:
        if not rest[0].startswith("-") or rest[0] == "-":
            call.arguments.append(rest.pop(0))
            continue
        option = _option(rest, known)
        if option is None:
            return None
        (name, kind), value = option
        if kind == MANY:
            call.values.setdefault(name, []).append(value)
        else:
            call.values[name] = value
    if "db" in call.values:
        call.db, call.db_from_env = call.values.pop("db"), False
    return call if len(call.arguments) <= ARGUMENTS[call.command] else None


def _option(
    args: list[str], known: dict[str, tuple[str, str]]
) -> tuple[tuple[str, str], Any] | None:
    """Take the option at args[0] (and its value) off `args`, as Click reads it: `--name
    value` or `--name=value`; a flag is True. None: unknown, or no value where one is due."""
    arg = args.pop(0)
    name, equals, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
    spec = known.get(name)
    if spec is None or (equals and spec[1] == FLAG):
        return None
    if spec[1] == FLAG:
        return spec, True
    if equals:
        return spec, inline
    return (spec, args.pop(0)) if args else None


def _states(value: str) -> Any:
    from queuectl.service.common import parse_list_states

    return parse_list_states(value)


def _read(call: Call) -> dict[str, Any] | None:
    """The typed option values, read by the functions the Click option types call; None
    when one is refused (Click then reports it in its own words)."""
    from queuectl.cli import values
    from queuectl.timefmt import parse_duration

    readers: dict[str, Callable[[str], Any]] = {
        "priority": int,
        "run_at": values.run_at,
        "delay": parse_duration,
        "timeout": parse_duration,
        "max_retries": lambda value: values.non_negative(int, value),
        "state": _states,
        "limit": lambda value: values.limit(int(value)),
        "attempt": lambda value: values.non_negative(int, value),
        "tail": lambda value: values.non_negative(int, value),
    }
    typed: dict[str, Any] = {}
    try:
        for name, value in call.values.items():
            reader = readers.get(name)
            if reader is None:
                typed[name] = value
            elif isinstance(value, list):
                typed[name] = [reader(item) for item in value]
            else:
                typed[name] = reader(value)
    except Exception:  # whatever it is, Click reports it as it would
        return None
    return typed


Action = Callable[["App"], None]


def _enqueue(call: Call, given: dict[str, Any]) -> Action | None:
    from queuectl.cli.spec_arg import (
        caller_directory,
        enqueue_one,
        job_options,
        plain_command,
        read_spec_argument,
    )

    spec = call.arguments[0] if call.arguments else None
    if (spec is None) == (call.words is None) or call.words == []:
        return None  # a usage error: Click's to report
    if "run_at" in given and "delay" in given:
        return None
    here = caller_directory()
    names = (
        "priority",
        "run_at",
        "delay",
        "timeout",
        "max_retries",
        "queue",
        "cwd",
        "concurrency_key",
    )
    try:
        env = tuple(given.get("env", ()))
        options = job_options({k: given.get(k) for k in names}, env, "env_all" in given, here)
    except ValueError:
        return None

    def action(app: App) -> None:
        app.may_create = True  # adding work may start a new queue
        if call.words is not None:
            data: dict[str, Any] = {"command": plain_command(call.words)}
        else:
            data = read_spec_argument(spec or "")
        enqueue_one(app, data, {**options, "id": given.get("id")}, here, "json" in given)

    return action


def _one_job(call: Call, given: dict[str, Any]) -> tuple[str | None, bool] | None:
    """(ID, --last) for `show` and `logs`: exactly one of them, else Click's usage error."""
    job_id = call.arguments[0] if call.arguments else None
    last = "last" in given
    return None if (job_id is None) == (not last) else (job_id, last)


def _prepare(call: Call) -> Action | None:
    """What to run for `call`, or None for Click to run it."""
    given = _read(call)
    if given is None:
        return None
    if call.command == "enqueue":
        return _enqueue(call, given)
    from queuectl.cli import reading, values
    from queuectl.cli.last_job import one_job

    as_json = "json" in given
    if call.command == "list":
        query = reading.list_query(
            given.get("state", ()),
            given.get("queue"),
            given.get("search"),
            given.get("id_prefix"),
            "oldest" in given,
            given.get("limit", values.DEFAULT_LIMIT),
        )
        wide = "wide" in given
        return lambda app: reading.print_page(
            reading.fetch_page(app.store, query), query, as_json, wide, app.store
        )
    if call.command == "status":
        return lambda app: reading.print_status(app, given.get("queue"), as_json)
    which = _one_job(call, given)
    if which is None:
        return None
    if call.command == "show":
        return lambda app: reading.show_job(app, one_job(app, *which), as_json)
    attempt, tail = given.get("attempt"), given.get("tail")
    return lambda app: reading.print_logs(app, one_job(app, *which), attempt, tail, as_json)


def run(argv: Sequence[str]) -> bool:
    """Run argv if the fast path handles it (exiting on error); False to use Click."""
    call = parse(argv)
    if call is None:
        return False
    # No cycle collection while this short command runs: importing a database driver
    # makes tens of thousands of objects, and the collector walks them again and again
    # (a tenth of the start-up) to find no garbage. Memory is freed by reference counts.
    gc.disable()
    try:
        return _run(call)
    finally:
        gc.enable()


def _run(call: Call) -> bool:
    from queuectl.cli import lean_imports

    lean_imports.import_msgspec()
    action = _prepare(call)
    if action is None:
        return False
    from queuectl.cli.context import App
    from queuectl.cli.errors import fail, silence_stdout
    from queuectl.errors import QueueError

    lean_imports.import_driver(call.db or "")
    app = App(call.db, call.db_from_env)
    try:
        action(app)
        sys.stdout.flush()
    except QueueError as err:
        fail(str(err), 1)
    except UnicodeEncodeError:  # undecodable bytes in an argument reach the database driver
        fail("arguments must be valid UTF-8 text", 1)
    except BrokenPipeError:
        silence_stdout()
        sys.exit(0)
    except (KeyboardInterrupt, EOFError):  # as Click reports them: a blank line closes ^C
        sys.stderr.write("\n")
        fail("aborted", 130)
    finally:
        app.close()
    return True

"""A store opened ahead of a short command, by the fork server's spare child.

Through the fork server, what is left of a short command on PostgreSQL is mostly its
store's opening: a new connection (the server starts a backend for it) and the first
statements on a backend whose caches are cold. So while the spare waits for its command,
it opens the store the last command opened (its URL, options and connection settings,
which the server passes on as a hint) and warms it up (`warm_up`: on PostgreSQL, the
schema version read and a one-job enqueue of no job, which writes nothing but leaves the
backend's tables, indexes and trigger functions ready for the real one). The command
takes that store only when it opens the same URL with the same options, its connection
settings are the same (the variables of SETTINGS, HOME, the working directory: what
libpq, OpenSSL, Kerberos and queuectl make a connection from), the store was opened at
most QUEUECTL_FORKSERVER_AHEAD seconds ago (default MAX_AGE_S, at most LONGEST_S; 0
opens nothing ahead) and its connection is idle and still open; then it checks the
schema as every open does. Anything else and the command opens its own, as it would have
without the fork server. A spare whose store was not taken in that time closes it: a
spare holds a connection only that long (by default, short enough for `DROP DATABASE`,
which waits up to 5 s for other sessions to leave).

Only stores whose class can check its schema later and say whether its connection is
still usable (PostgreSQL, Redis: `Reopenable`) are opened ahead; SQLite opens in a
fraction of a millisecond.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from queuectl.store.base import Store

MAX_AGE_S = 2.0
AGE_VAR = "QUEUECTL_FORKSERVER_AHEAD"
LONGEST_S = 60.0  # the most AGE_VAR may ask for
# What a connection is made from, beyond its URL: libpq's PG* variables, HOME (where
# libpq finds .pgpass and its certificates), OpenSSL's CA paths (SSL_CERT_FILE,
# SSL_CERT_DIR), Kerberos' KRB5* (its credentials cache), and queuectl's own.
SETTINGS = ("PG", "QUEUECTL_", "SSL_", "KRB5")
# (URL, (durable, migrate, check_schema), connection settings, working directory)
Options = tuple[bool, bool, bool]
Hint = tuple[str, Options, tuple[tuple[str, str], ...], str]


@runtime_checkable
class Reopenable(Protocol):
    """A store that can be opened without its schema check and checked later."""

    def check_schema(self, migrate: bool) -> None:
        """What opening with check_schema=True does: refuse a newer schema, migrate an
        older one when `migrate`."""
        ...

    def schema_version(self) -> int: ...

    def connection_usable(self) -> bool:
        """Whether its connection is open and idle, with nothing unread from the server
        (a server that ended the session says so first): safe to hand to a command."""
        ...


class _Opened:
    def __init__(self, hint: Hint, store: Store, until: float) -> None:
        self.hint = hint
        self.store = store
        self.until = until  # time.monotonic() after which it is not used


_ahead: _Opened | None = None
# In a fork server's child (set there): note the store it opens, for the next spare.
hinting = False
# The first store of a server this process opened, as a hint for the next spare.
opened: Hint | None = None
# Whether this process's command took the store opened ahead (the server counts them).
taken = False


def settings() -> tuple[tuple[str, str], ...]:
    """The environment a connection is made from (SETTINGS)."""
    return tuple(
        sorted(
            (name, value)
            for name, value in os.environ.items()
            if name.startswith(SETTINGS) or name == "HOME"
        )
    )


def remember(target: str, options: Options, store: Store) -> None:
    """In a fork server's child, note the first store of a server it opened (the next
    spare's hint); nowhere else (a worker's directory may even be gone)."""
    global opened
    if not hinting or opened is not None or not getattr(store, "remote", False):
        return
    if isinstance(store, Reopenable) and (cwd := _cwd()) is not None:
        opened = (target, options, settings(), cwd)


def _cwd() -> str | None:
    try:
        return os.getcwd()
    except OSError:  # removed meanwhile
        return None


def prepare(hint: Hint, backend_class: Callable[[str], Any]) -> None:
    """In the spare, before its command comes: open the hinted store with the hinted
    settings (the command's own replace them); on any failure, open nothing.
    `backend_class` is opening.backend_class (which imports this module)."""
    global _ahead
    target, (durable, _, _), environment, cwd = hint
    for name in [n for n, _ in settings()]:
        del os.environ[name]
    os.environ.update(environment)
    age = max_age()
    if age <= 0:
        return
    try:
        os.chdir(cwd)  # (a relative certificate path in the URL, say)
        opener = backend_class(target)
        if not issubclass(opener, Reopenable):
            return
        store = opener(target, durable=durable, migrate=False, check_schema=False)
    except Exception:  # the command will meet (and report) the same on its own open
        return
    finally:
        with contextlib.suppress(OSError):
            os.chdir("/")  # the spare keeps no directory busy while it waits
    try:
        # A class may warm up more than the schema version's read (PostgresStore does):
        # run once what its short commands run first; write nothing, wait for no lock.
        getattr(store, "warm_up", store.schema_version)()
    except Exception:
        store.close()
        return
    _ahead = _Opened(hint, store, time.monotonic() + age)


def max_age() -> float:
    """QUEUECTL_FORKSERVER_AHEAD, at most LONGEST_S (0 for anything not a number or not
    above 0), else MAX_AGE_S."""
    try:
        age = float(os.environ.get(AGE_VAR, MAX_AGE_S))
    except ValueError:
        return MAX_AGE_S
    return min(age, LONGEST_S) if age > 0 else 0.0  # (nan > 0 is false)


def expire_in() -> float | None:
    """Seconds the store opened ahead may still wait (None: there is none)."""
    if _ahead is None:
        return None
    return max(0.0, _ahead.until - time.monotonic())


def discard() -> None:
    """Close the store opened ahead, if any (its time is up, or it does not fit)."""
    global _ahead
    if _ahead is not None:
        _ahead.store.close()
        _ahead = None


def take(target: str, options: Options) -> Store | None:
    """The store opened ahead, schema checked, when it is the one asked for (see the
    module's docstring); else None, and the caller opens its own."""
    global _ahead, taken
    ahead = _ahead
    if ahead is None:
        return None
    _ahead = None
    store = ahead.store
    if not (
        isinstance(store, Reopenable)
        and ahead.hint == (target, options, settings(), _cwd())
        and time.monotonic() <= ahead.until
        and store.connection_usable()
    ):
        store.close()
        return None
    _, migrate, check = options
    if check:
        try:
            store.check_schema(migrate)
        except BaseException:
            store.close()
            raise
    taken = True
    return store

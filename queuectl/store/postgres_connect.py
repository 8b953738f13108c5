"""Connecting to PostgreSQL: the URL (poll-only mode; passwords kept out of messages), the
connection's settings, and psycopg's errors as queuectl's (unreachable, refused, other)."""

from __future__ import annotations

import os
import re
from typing import Any

from queuectl.errors import InvalidSpec, StoreError, StoreGone, StoreRefused, StoreUnavailable

try:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict
    from psycopg.rows import dict_row

    _IMPORT_ERROR: ImportError | None = None
except ImportError as err:  # the `postgres` extra is not installed
    _IMPORT_ERROR = err

POLL_ONLY_PARAM = "queuectl_poll_only"
CONNECT_TIMEOUT_S = 10  # unless the URL sets connect_timeout

Row = dict[str, Any]


def split_url(url: str) -> tuple[str, bool]:
    """The URL to hand libpq, and whether poll-only mode was asked for (by its query
    parameter, which libpq would reject, or by QUEUECTL_PG_POLL_ONLY=1)."""
    base, _, query = url.partition("?")
    ours = [item for item in query.split("&") if item.partition("=")[0] == POLL_ONLY_PARAM]
    kept = "&".join(item for item in query.split("&") if item and item not in ours)
    poll_only = os.environ.get("QUEUECTL_PG_POLL_ONLY", "") == "1" or (
        POLL_ONLY_PARAM + "=1" in ours
    )
    return (f"{base}?{kept}" if kept else base), poll_only


def redacted_url(url: str) -> str:
    """The URL for messages: no password."""
    url = re.sub(r"(password=)[^&]*", r"\1***", url)
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


def _reason(err: Exception) -> str:
    """libpq's message in one line, without its 'connection to server ... failed:' prefix."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = lines[0] if lines else type(err).__name__
    text = text.rsplit(" failed: ", 1)[-1]
    return re.sub(r"^(FATAL|ERROR):\s+", "", text)


LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def loopback_plain(options: dict[str, Any]) -> dict[str, Any]:
    """No TLS or GSSAPI encryption tried on a connection that never leaves this machine,
    unless the URL or the environment asks for one: libpq's default (`prefer`) first
    offers each to the server, a round trip apiece, and a whole TLS handshake when the
    server has TLS on, without checking whom it talks to. A setting of the user's is
    kept as it is."""
    hosts = str(options.get("hostaddr") or options.get("host") or os.environ.get("PGHOST", ""))
    if not hosts or any(host.strip() not in LOOPBACK for host in hosts.split(",")):
        return {}
    plain: dict[str, Any] = {}
    if "sslmode" not in options and not os.environ.get("PGSSLMODE"):
        plain["sslmode"] = "disable"
    if "gssencmode" not in options and not os.environ.get("PGGSSENCMODE"):
        plain["gssencmode"] = "disable"
    return plain


def connect_server(dsn: str, durable: bool, poll_only: bool) -> psycopg.Connection[Row]:
    target = redacted_url(dsn)
    if _IMPORT_ERROR is not None:
        raise StoreError("PostgreSQL support is not installed: pip install 'queuectl[postgres]'")
    try:
        options = conninfo_to_dict(dsn)
    except psycopg.Error as err:
        raise StoreError(f"invalid PostgreSQL URL {target}: {_reason(err)}") from None
    extra: dict[str, Any] = {}
    if "connect_timeout" not in options:
        extra["connect_timeout"] = CONNECT_TIMEOUT_S
    if "keepalives" not in options:
        # A peer that vanished without closing (host lost power, network cut) is noticed
        # in about 25 s instead of the kernel's default of hours.
        extra.update(keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3)
    if poll_only:
        # Poolers in transaction mode (the reason for poll-only) may hand each statement
        # to another server connection: no server-side prepared statements then.
        extra["prepare_threshold"] = None
    plain = loopback_plain(options)
    try:
        try:
            conn = psycopg.connect(dsn, autocommit=True, row_factory=dict_row, **extra, **plain)
        except psycopg.OperationalError as err:
            if not plain or not re.search(r"pg_hba|SSL|encrypt", str(err)):
                raise
            # A server that wants encryption even here: as libpq would have connected.
            conn = psycopg.connect(dsn, autocommit=True, row_factory=dict_row, **extra)
    except psycopg.Error as err:
        reason = _reason(err)
        refused = re.search(r"does not exist|authentication|password|pg_hba|invalid", reason)
        # No such database (dropped under a running worker, say): no retry brings it back.
        gone = re.search(r'database ".*" does not exist', reason)
        kind = StoreGone if gone else StoreError if refused else StoreUnavailable
        raise kind(f"cannot connect to PostgreSQL at {target}: {reason}") from None
    if not durable:
        # Workers: a commit returns before its WAL reaches disk. A server crash may lose
        # their last few claims or results, and those jobs then run again (at-least-once,
        # as on SQLite with synchronous=NORMAL). Enqueues keep the durable default.
        try:
            conn.execute("SET synchronous_commit = off")
        except psycopg.Error as err:
            conn.close()
            raise translate_error(err, lost=True, target=target) from None
    return conn


# SQLSTATE classes of an answer that refuses the data itself (integrity constraint
# violation; program limit exceeded, e.g. "row is too big"): the same write would be
# refused again. psycopg files class 54 under OperationalError, like a lost connection.
REFUSED_CLASSES = ("23", "54")


def refused(err: psycopg.Error) -> bool:
    return (err.sqlstate or "")[:2] in REFUSED_CLASSES


def translate_error(err: psycopg.Error, lost: bool, target: str) -> StoreError | InvalidSpec:
    if lost:
        return StoreUnavailable(f"lost the connection to PostgreSQL at {target}: {_reason(err)}")
    if refused(err):
        return StoreRefused(f"PostgreSQL at {target} refused the write: {_reason(err)}")
    if isinstance(err, psycopg.DataError):  # a number or time out of PostgreSQL's range
        return InvalidSpec(f"value rejected by PostgreSQL: {_reason(err)}")
    return StoreError(f"PostgreSQL error at {target}: {_reason(err)}")

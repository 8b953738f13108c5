"""Reaching Redis: URLs, the client, the Lua scripts, and errors as queuectl's.

A `redis://` or `rediss://` URL is redis-py's, plus an optional `prefix` query parameter
(default `queuectl:`) naming the keys of this queue, so several queues (or the tests) can
share one server and database. The client never retries on its own: a write whose answer
was lost may have been applied, so the caller decides (reads are retried once, as on
PostgreSQL)."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

from queuectl.errors import StoreError, StoreRefused, StoreUnavailable

try:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    _IMPORT_ERROR: ImportError | None = None
except ImportError as err:  # the `redis` extra is not installed
    _IMPORT_ERROR = err

T = TypeVar("T")
DEFAULT_PREFIX = "queuectl:"
PREFIX_PARAM = "prefix"
CONNECT_TIMEOUT_S = 10.0
# A server that stops answering (frozen, cut off) is given up on after this long; longer
# than any script runs (a purge deletes in batches for that reason).
SOCKET_TIMEOUT_S = 30.0
SCRIPT_FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "redis_scripts")
SCRIPTS = (
    "enqueue",
    "record",
    "claim",
    "query",
    "counts",
    "stats",
    "unfinished",
    "next_due",
    "expired",
    "heartbeat",
    "finish",
    "apply",
    "purge",
    "register_worker",
    "list_workers",
    "stop_workers",
    "prune_workers",
    "unregister_worker",
    "publish_output",
    "dead_groups",
    "dead_group_ids",
    "key_limit",
)


def split_url(url: str) -> tuple[str, str]:
    """The URL to hand redis-py, and the key prefix (its own query parameter)."""
    base, _, query = url.partition("?")
    params = parse_qsl(query, keep_blank_values=True)
    prefix = next((v for k, v in params if k == PREFIX_PARAM), DEFAULT_PREFIX)
    kept = urlencode([(k, v) for k, v in params if k != PREFIX_PARAM])
    return (f"{base}?{kept}" if kept else base), prefix


def redacted_url(url: str) -> str:
    """The URL for messages: no password."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url.partition("?")[0])


def client_name() -> str:
    """How our connections appear in CLIENT LIST: host and pid, as worker ids name them."""
    host = os.environ.get("QUEUECTL_HOSTNAME") or socket.gethostname()
    return f"queuectl:{re.sub(r'[^!-~]', '_', host)}:{os.getpid()}"


def connect(url: str) -> redis.Redis:
    if _IMPORT_ERROR is not None:
        raise StoreError("Redis support is not installed: pip install 'queuectl[redis]'")
    try:
        return redis.Redis.from_url(
            url,
            client_name=client_name(),
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_timeout=SOCKET_TIMEOUT_S,
            socket_keepalive=True,
        )
    except ValueError as err:
        raise StoreError(f"invalid Redis URL {redacted_url(url)}: {err}") from None


@cache
def script_text(name: str) -> str:
    """A script as sent: the shared library (common.lua) and then the script itself."""
    return _library() + "\n" + _read_script(name)


@cache
def _library() -> str:
    """What every script starts with: the rules (after_rules_lua) and common.lua."""
    return after_rules_lua() + _read_script("common")


def _read_script(name: str) -> str:
    # A plain file next to this module (as queries.py reads the SQL): importlib.resources
    # would cost a short command more than all its Redis round trips.
    with open(os.path.join(SCRIPT_FOLDER, f"{name}.lua"), encoding="utf-8") as handle:
        return handle.read()


def after_rules_lua() -> str:
    """queuectl.workflow's rules for each end state, as common.lua's AFTER_RULES: a table
    constructor, not JSON to decode (every script call would pay for the decoding)."""
    from queuectl.store.sql_after import release_rules

    return f"local AFTER_RULES = {lua_literal(release_rules())}\n"


def lua_literal(value: object) -> str:
    """A string, list or dict (of those) as a Lua constructor."""
    if isinstance(value, str):
        return "'" + "".join(_lua_char(b) for b in value.encode()) + "'"
    if isinstance(value, list | tuple):
        return "{" + ", ".join(lua_literal(v) for v in value) + "}"
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"[{lua_literal(k)}] = {lua_literal(v)}" for k, v in value.items())
            + "}"
        )
    raise TypeError(f"no Lua literal for {type(value).__name__}")


def _lua_char(byte: int) -> str:
    """One byte of a Lua string literal: printable ASCII as it is, the rest as \\ddd."""
    if 32 <= byte < 127 and byte not in (ord("'"), ord("\\")):
        return chr(byte)
    return f"\\{byte:03d}"


def translate_error(err: Exception, target: str) -> StoreError:
    """A redis-py error as queuectl's: unreachable (retry), refused (never as is), other."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if isinstance(err, redis.exceptions.AuthenticationError | redis.exceptions.AuthorizationError):
        return StoreError(f"Redis at {target} refused the connection: {text}")
    if isinstance(err, redis.ConnectionError | redis.TimeoutError):
        return StoreUnavailable(f"cannot reach Redis at {target}: {text}")
    if isinstance(err, redis.exceptions.OutOfMemoryError) or text.startswith("OOM"):
        return StoreRefused(f"Redis at {target} refused the write: {text}")
    if text.startswith(("BUSY", "LOADING", "MASTERDOWN", "TRYAGAIN")):
        return StoreUnavailable(f"Redis at {target} is busy: {text}")
    return StoreError(f"Redis error at {target}: {text}")


class Scripts:
    """The Lua scripts registered on one client, called by name; every call is one atomic
    step on the server. Errors come out as queuectl's; `read=True` tries once more after
    a lost connection (a write never is: it may have been applied)."""

    def __init__(self, client: redis.Redis, prefix: str, target: str) -> None:
        self._client = client
        self._prefix = prefix
        self._target = target
        # Each script is read and hashed when first run: a short command runs one or two
        # of them. (Running one is EVALSHA, and the script is sent only if the server
        # does not have it yet.)
        self._scripts: dict[str, Any] = {}
        self.clock_offset = 0.0  # seconds added to the server's clock (advance_clock)

    def script(self, name: str) -> Any:
        """The registered script `name` (redis-py's Script), registered on first use."""
        script = self._scripts.get(name)
        if script is None:
            if name not in SCRIPTS:
                raise KeyError(name)
            script = self._scripts[name] = self._client.register_script(script_text(name))
        return script

    def run(self, name: str, args: Sequence[Any] = (), *, read: bool = False) -> Any:
        script = self.script(name)
        offset = repr(self.clock_offset)
        return self.call(lambda: script(args=[self._prefix, offset, *args]), read=read)

    def call(self, action: Callable[[], T], *, read: bool = False) -> T:
        tries = 2 if read else 1
        for attempt in range(1, tries + 1):
            try:
                return action()
            except redis.RedisError as err:
                translated = translate_error(err, self._target)
                if not isinstance(translated, StoreUnavailable) or attempt == tries:
                    raise translated from None
        raise AssertionError("unreachable")

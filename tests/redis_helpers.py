"""Throw-away Redis key spaces for tests.

The server is the one at QUEUECTL_TEST_REDIS (default: redis://127.0.0.1:6379/0). Each
test gets a key prefix of its own, `queuectl_test_<random>:`, whose keys are deleted
afterwards. When the server cannot be reached the test is skipped, except under CI=true,
where it fails: CI must not pass by running no Redis test at all.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import pytest
import redis

DEFAULT_URL = "redis://127.0.0.1:6379/0"
PREFIX = "queuectl_test_"


def redis_test_url() -> str:
    return os.environ.get("QUEUECTL_TEST_REDIS", "").strip() or DEFAULT_URL


@cache
def _unreachable_reason() -> str | None:
    """Why the test server cannot be used, or None when it can (asked once per run)."""
    try:
        with redis.Redis.from_url(redis_test_url(), socket_connect_timeout=5) as client:
            client.ping()
    except redis.RedisError as err:
        return f"Redis test server {redis_test_url()} not reachable: {err}"
    return None


def require_redis() -> None:
    """Skip the calling test when the server is away; fail it instead when CI=true."""
    reason = _unreachable_reason()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: Redis tests must run; set QUEUECTL_TEST_REDIS)")
    pytest.skip(f"{reason} (set QUEUECTL_TEST_REDIS to run Redis tests)")


def delete_prefix(url: str, prefix: str) -> None:
    """Delete every key under `prefix` (a test's own)."""
    if not prefix.startswith(PREFIX):
        raise ValueError(f"refusing to delete keys under {prefix!r}: not a test prefix")
    with redis.Redis.from_url(url) as client:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])


@contextmanager
def fresh_prefix(url: str | None = None) -> Iterator[str]:
    """The URL of an empty key space on the test server (or at `url`), deleted afterwards.
    Where the server has ACLs (Redis 6.2+), the URL logs in as a user of its own that may
    touch only this prefix's keys and channel (so `refusing` can cut off this test alone)."""
    base = url or redis_test_url()
    if url is None:
        require_redis()
    name = f"{PREFIX}{secrets.token_hex(6)}"
    prefix = f"{name}:"
    separator = "&" if "?" in base else "?"
    login = _own_user(base, name, prefix)
    scheme, rest = base.split("://", 1)
    try:
        yield f"{scheme}://{login}{rest}{separator}prefix={prefix}"
    finally:
        # A server that went away (a test stopped it) has nothing left to clean.
        with contextlib.suppress(redis.RedisError):
            delete_prefix(base, prefix)
            if login:
                with redis.Redis.from_url(base) as client:
                    client.acl_deluser(name)


def _own_user(base: str, name: str, prefix: str) -> str:
    """Create user `name` for `prefix` only; its "user:password@" for the URL ("" when the
    server has no ACLs, or the URL logs in already)."""
    if "@" in base.split("://", 1)[1].split("/", 1)[0]:
        return ""
    password = secrets.token_hex(8)
    try:
        with redis.Redis.from_url(base) as client:
            client.acl_setuser(
                name,
                enabled=True,
                passwords=[f"+{password}"],
                keys=[f"{prefix}*"],
                channels=[f"{prefix}*"],
                commands=["+@all"],
            )
    except redis.ResponseError:
        return ""
    return f"{name}:{password}@"


def user_of(url: str) -> str | None:
    """The ACL user a fresh_prefix URL logs in as (None: the server has no ACLs)."""
    netloc = url.split("://", 1)[1].split("/", 1)[0]
    return netloc.split("@", 1)[0].split(":", 1)[0] if "@" in netloc else None


@contextmanager
def refusing(url: str) -> Iterator[None]:
    """Every command of this test's clients refused (NOPERM) meanwhile, as a database that
    fails every call; other tests on the server are not touched."""
    user = user_of(url)
    if user is None:
        pytest.skip("the Redis test server has no ACLs (Redis 6.2+) to refuse one test alone")
    admin = redis_test_url()
    with redis.Redis.from_url(admin) as client:
        client.acl_setuser(user, enabled=True, commands=["-@all"])
    try:
        yield
    finally:
        with redis.Redis.from_url(admin) as client:
            client.acl_setuser(user, enabled=True, commands=["+@all"])

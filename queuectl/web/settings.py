"""What `queuectl serve` was asked to do: one immutable value every part of the app reads."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit, urlunsplit

import msgspec

MAX_BODY_BYTES = 10 * 1024 * 1024  # request bodies above this get 413
KEEP_ALIVE_SECONDS = 5  # an idle keep-alive connection is closed after this
HEADERS_SECONDS = 5  # a request's line and headers must all arrive within this
BODY_IDLE_SECONDS = 15  # a request body that sends nothing for this long is dropped
MAX_HEADER_BYTES = 16 * 1024  # request line and headers together; more gets 431
MIN_TOKEN_LENGTH = 16


class ServeSettings(msgspec.Struct, frozen=True):
    """The options of `queuectl serve`; `db` is the --db value (None: the default file)."""

    db: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    read_only: bool = False
    metrics_public: bool = False
    max_body: int = MAX_BODY_BYTES
    # Host names the server answers to besides loopback names and the bound address.
    allowed_hosts: tuple[str, ...] = ()
    # "https" when a TLS-terminating proxy stands in front: cookies are then Secure.
    forwarded_proto: str | None = None


def is_loopback(host: str) -> bool:
    """Whether an address (or `localhost`) can only be reached from this machine."""
    name = host.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def masked_url(url: str) -> str:
    """A database URL safe to print: the password, if any, replaced by `***`."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    query = re.sub(r"(?i)(password=)[^&]*", r"\1***", parts.query)
    if parts.password is None:
        return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))

"""Which `Host` names the server answers to: the guard against DNS rebinding.

A page on `attacker.example` whose name is made to resolve to 127.0.0.1 reaches the server
from the user's own browser, and the browser sends `Host: attacker.example`. So every
request, with a token or without, must name a host the server knows: a loopback name or
address, the address it is bound to, any IP address when it is bound to all of them (an
address cannot be rebound), or a name given with `--allowed-host`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::"})


def host_name(header: str) -> str | None:
    """The name part of a Host header (`name`, `name:port`, `[v6]:port`), lower-cased;
    None when it is not a well-formed host."""
    value = header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        rest = value[end + 1 :]
        if end < 0 or (rest and not _is_port(rest)):
            return None
        return value[1:end]
    name, sep, port = value.rpartition(":")
    if not sep:
        name = value
    elif not _is_port(":" + port):
        return None
    if not name or any(c in name for c in "/\\@ ?#"):
        return None
    return name.rstrip(".")


def _is_port(text: str) -> bool:
    return text.startswith(":") and text[1:].isdigit() and len(text) <= 6


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


class HostPolicy:
    """The allow-list of one server, built once from its settings."""

    def __init__(self, bound: str, allowed: Iterable[str] = ()) -> None:
        self.bound = bound.strip("[]").lower()
        self.any_address = self.bound in WILDCARD_BINDS
        self.exact: set[str] = set()
        self.suffixes: list[str] = []
        for given in allowed:
            entry = given.strip().lower().rstrip(".")
            if entry.startswith("."):  # `.example.com`: the domain and every subdomain
                self.suffixes.append(entry)
                self.exact.add(entry[1:])
            elif entry:
                self.exact.add(entry)

    def allows(self, header: str | None) -> bool:
        if header is None:  # HTTP/1.0 without Host: no browser sends that
            return True
        name = host_name(header)
        if name is None:
            return False
        if name == "localhost" or name.endswith(".localhost"):  # browsers pin these to loopback
            return True
        if name == self.bound or name in self.exact:
            return True
        address = _ip(name)
        if address is not None:
            return address.is_loopback or self.any_address
        return any(name.endswith(suffix) for suffix in self.suffixes)

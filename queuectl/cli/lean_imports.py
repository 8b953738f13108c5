"""Importing msgspec and the database drivers without the standard-library modules they
load only for things a short command never does: for the fast path (cli/fast.py) alone,
whose process ends when its one command is done. Each module imported here is the real
one, working as usual; only what it pulls in on the side is skipped or read a cheaper
way, and whatever this cannot do the usual way does instead.

- msgspec imports typing_extensions, when installed, only to understand that module's
  own types (queuectl's structs use none): 10 ms of inspect, ast and dis.
- psycopg and redis-py read their own version on import with importlib.metadata.version,
  which imports zipfile, email, csv and pathlib and scans every installed distribution:
  the version is in the name of the package's `NAME-VERSION.dist-info` folder.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import types
from typing import Any

DRIVERS = {"postgresql": "psycopg", "postgres": "psycopg", "redis": "redis", "rediss": "redis"}
_METADATA = "importlib.metadata"


def import_msgspec() -> None:
    """Import msgspec without typing_extensions, when that is installed (other packages
    bring it). Not for `serve`: Litestar's types need it."""
    if "msgspec" in sys.modules or "typing_extensions" in sys.modules:
        return
    sys.modules["typing_extensions"] = None  # type: ignore[assignment]  # import fails
    try:
        import msgspec  # noqa: F401
    finally:
        del sys.modules["typing_extensions"]  # a later import finds it as usual


def import_driver(url: str) -> None:
    """Import the driver of the backend `url` names (none for SQLite), without what it
    loads only to read its own version. A driver that is not installed is
    left to the store to report, in its words."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    name = DRIVERS.get(scheme)
    if name is None or name in sys.modules or _METADATA in sys.modules:
        return
    stand_in = MetadataVersions(_METADATA)
    sys.modules[_METADATA] = stand_in
    try:
        importlib.import_module(name)
    except ImportError:
        pass
    finally:
        if sys.modules.get(_METADATA) is stand_in:
            del sys.modules[_METADATA]  # a later import finds the real module


class MetadataVersions(types.ModuleType):
    """importlib.metadata as the drivers use it while importing: `version(name)` from the
    one `NAME-VERSION.dist-info` folder of that name on sys.path; anything else (and a
    version not found that way) from the real module, imported then."""

    def version(self, distribution: str) -> str:
        found = dist_info_version(distribution)
        return found if found is not None else self._real().version(distribution)

    def __getattr__(self, attribute: str) -> Any:  # PackageNotFoundError, distributions...
        return getattr(self._real(), attribute)

    @staticmethod
    def _real() -> Any:
        if isinstance(sys.modules.get(_METADATA), MetadataVersions):
            del sys.modules[_METADATA]
        return importlib.import_module(_METADATA)


def dist_info_version(distribution: str) -> str | None:
    """The version in the name of the first sys.path folder's `NAME-VERSION.dist-info`
    for `distribution` (as importlib.metadata would find it first); None when that
    folder holds none or more than one, or another kind of record (.egg-info) comes
    first: then only importlib.metadata can tell."""
    wanted = _normalized(distribution)
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        found = [
            (kind, version)
            for kind, dist, version in map(_record, names)
            if kind and _normalized(dist) == wanted
        ]
        if not found:
            continue
        if len(found) != 1 or found[0][0] != "dist-info" or not found[0][1]:
            return None
        return found[0][1]
    return None


def _record(name: str) -> tuple[str, str, str]:
    """(kind, distribution, version) of a `NAME-VERSION.dist-info` or `.egg-info`
    folder's name; kind "" for any other name."""
    for kind in ("dist-info", "egg-info"):
        if name.endswith("." + kind):
            dist, _, version = name[: -len(kind) - 1].partition("-")
            return kind, dist, version
    return "", "", ""


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()

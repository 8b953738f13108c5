"""Job ids may hold `/` (`team/build-1`): a client sends it percent-encoded (`%2F`) in a
path segment. ASGI servers decode the path before routing, which would split such an id
into two segments, so the app routes on the raw path with encoded slashes kept, and the
handlers decode the id they receive."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote

if TYPE_CHECKING:
    from litestar.types import HTTPScope

_ENCODED_SLASH = "%2F"


def keep_encoded_slashes(scope: HTTPScope) -> None:
    """Rewrite `scope["path"]` from `raw_path`, decoding every escape but `%2F`."""
    raw = scope.get("raw_path")
    if not raw or b"%2f" not in raw.lower():
        return
    raw_path = raw.decode("latin-1").split("?", 1)[0]
    segments = [unquote(part).replace("/", _ENCODED_SLASH) for part in raw_path.split("/")]
    scope["path"] = "/".join(segments)


def job_id_from_path(segment: str) -> str:
    """The id a path segment names (ids cannot hold `%`, so this is unambiguous)."""
    return segment.replace(_ENCODED_SLASH, "/")

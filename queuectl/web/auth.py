"""Who may do what, checked once for every request before Litestar routes it.

The rules (docs/http-api.md, "Security"):
- every request names a Host the server answers to (queuectl.web.hosts), token or not;
- a change never comes from another site: refused when the browser marks it cross-site
  (`Sec-Fetch-Site`) or its `Origin` is another host, whatever the method (tool 000's
  state-changing GETs included), while curl and scripts, which send neither, go through;
- without a token the server serves loopback clients only;
- with a token, every change needs it, and so does every request from off loopback except
  /healthz (and /metrics with --metrics-public); behind a proxy (--allowed-host or
  --forwarded-proto) every client comes from loopback, so then every request needs it.
  A browser logs in once and holds a session id (queuectl.web.sessions), never the
  token; a change made with the session repeats the session's CSRF secret in a header;
- wrong tokens are throttled per client address; oversized headers get 431.
"""

from __future__ import annotations

import hmac
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from queuectl.web.hosts import HostPolicy
from queuectl.web.sessions import FailureThrottle, Session, Sessions
from queuectl.web.settings import MAX_HEADER_BYTES, ServeSettings, is_loopback

if TYPE_CHECKING:
    from litestar.types import ASGIApp, HTTPScope, Message, Receive, Send

SESSION_COOKIE = "queuectl_session"
# Over HTTPS the cookie takes the __Host- prefix: the browser then keeps it Secure, for
# this host only (no Domain) and for Path=/, whatever another response tries to set.
SECURE_SESSION_COOKIE = "__Host-queuectl_session"
CSRF_COOKIE = "queuectl_csrf"
CSRF_HEADER = "x-queuectl-csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Tool 000 changed things with GET; those count as changes here.
UNSAFE_GETS = frozenset({"/worker/stop", "/worker/start"})
# Reachable without a token from anywhere: liveness, the login form, its assets.
PUBLIC_PATHS = frozenset({"/healthz", "/login", "/logout"})
PUBLIC_PREFIXES = ("/static/",)
# Sec-Fetch-Site values of requests the user made on this server's own pages or by hand.
OWN_SITE = frozenset({"same-origin", "none"})


class Denied(Exception):
    """A request the rules refuse: its status, one-line reason and extra headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def is_change(method: str, path: str) -> bool:
    """Whether a request may change something (so it needs the token, and read-only refuses
    it). Logging in and out changes nothing in the queue."""
    if path in ("/login", "/logout"):
        return False
    return method not in SAFE_METHODS or path in UNSAFE_GETS


def _cookies(headers: dict[str, str]) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:  # a malformed Cookie header is treated as no cookie
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())


class Guard:
    """The decision for one request, from the settings and what the request carries, plus
    the state it keeps: sessions and the wrong-token throttle."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.hosts = HostPolicy(settings.host, settings.allowed_hosts)
        self.sessions = Sessions()
        self.throttle = FailureThrottle()
        # Behind a proxy every client arrives from loopback: it then earns nothing.
        self.loopback_trusted = not settings.allowed_hosts and settings.forwarded_proto is None

    def is_secure(self, scheme: str) -> bool:
        return scheme == "https" or self.settings.forwarded_proto == "https"

    def session_cookie(self, secure: bool) -> str:
        return SECURE_SESSION_COOKIE if secure else SESSION_COOKIE

    def session_of(self, headers: dict[str, str], secure: bool) -> tuple[str, Session] | None:
        session_id = _cookies(headers).get(self.session_cookie(secure))
        if not session_id:
            return None
        session = self.sessions.get(session_id)
        return None if session is None else (session_id, session)

    def check_throttle(self, client: str | None) -> None:
        wait = self.throttle.wait_seconds(client or "?")
        if wait > 0:
            retry = str(int(wait) + 1)
            raise Denied(
                429, f"too many wrong tokens; try again in {retry} s", {"Retry-After": retry}
            )

    def check(
        self, method: str, path: str, client: str | None, headers: dict[str, str], secure: bool
    ) -> str:
        """Return how the request authenticated ("bearer", "cookie" or "none"), or raise
        Denied."""
        host = headers.get("host")
        if not self.hosts.allows(host):
            raise Denied(
                421,
                f"this server does not answer to Host {(host or '')[:100]!r} "
                "(loopback names, its own address, and names given with --allowed-host)",
            )
        change = is_change(method, path)
        if change:
            _check_same_site(headers)
        if self.settings.token is None:
            if client is None or not is_loopback(client):
                raise Denied(401, "this server has no token and serves loopback clients only")
            how = "none"
        else:
            how = self._authenticate(path, client, headers, change, secure)
        if change and self.settings.read_only:
            raise Denied(403, "this server is read-only (--read-only): changes are refused")
        return how

    def _public(self, path: str) -> bool:
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            return True
        return path == "/metrics" and self.settings.metrics_public

    def _authenticate(
        self, path: str, client: str | None, headers: dict[str, str], change: bool, secure: bool
    ) -> str:
        token = self.settings.token
        assert token is not None
        authorization = headers.get("authorization")
        if authorization is not None:
            self.check_throttle(client)
            scheme, _, given = authorization.partition(" ")
            if scheme.lower() != "bearer" or not same_secret(given.strip(), token):
                self.throttle.failed(client or "?")
                raise Denied(401, "invalid token in the Authorization header")
            return "bearer"
        found = self.session_of(headers, secure)
        if found is not None:
            if change:
                given = headers.get(CSRF_HEADER, "")
                if not given or not same_secret(given, found[1].csrf):
                    raise Denied(403, "missing or wrong X-Queuectl-Csrf header (log in again)")
            return "cookie"
        local = self.loopback_trusted and client is not None and is_loopback(client)
        if change or not (local or self._public(path)):
            raise Denied(401, "authentication required: send 'Authorization: Bearer <token>'")
        return "none"


def _check_same_site(headers: dict[str, str]) -> None:
    """A change from another site is refused. Browsers send Sec-Fetch-Site on every
    request, `<img>` and form GETs included, which carry no Origin; another port of the
    same host is `same-site`, not `same-origin`, and is refused too."""
    site = headers.get("sec-fetch-site")
    if site is not None and site not in OWN_SITE:
        raise Denied(403, f"cross-site change refused (Sec-Fetch-Site: {site[:40]})")
    origin = headers.get("origin")
    if origin is not None and urlsplit(origin).netloc.lower() != headers.get("host", "").lower():
        raise Denied(403, "cross-origin change refused")


def _header_bytes(scope: HTTPScope) -> int:
    size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
    return size + sum(len(k) + len(v) + 4 for k, v in scope.get("headers", []))


async def guarded(
    guard: Guard, scope: HTTPScope, receive: Receive, send: Send, app: ASGIApp
) -> None:
    """Apply the guard to one HTTP request, then hand it to `app` with `nosniff` added to
    its response; refusals are JSON errors like every other."""
    client = scope.get("client")
    try:
        if _header_bytes(scope) > MAX_HEADER_BYTES:
            raise Denied(431, f"request line and headers over {MAX_HEADER_BYTES} bytes")
        pairs = scope.get("headers", [])
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in pairs}
        secure = guard.is_secure(scope.get("scheme", "http"))
        how = guard.check(
            scope["method"], scope["path"], client[0] if client else None, headers, secure
        )
    except Denied as denied:
        if denied.status == 401 and _is_page_visit(scope):
            await _send_to_login(send, scope)
        else:
            await _send_error(send, denied)
        return
    scope.setdefault("state", {})["queuectl_auth"] = how

    async def send_nosniff(message: Message) -> None:
        if message["type"] == "http.response.start":
            names = {name.lower() for name, _ in message.get("headers", [])}
            if b"x-content-type-options" not in names:
                message["headers"] = [*message.get("headers", []), NOSNIFF]
        await send(message)

    await app(scope, receive, send_nosniff)


NOSNIFF = (b"x-content-type-options", b"nosniff")


def _is_page_visit(scope: HTTPScope) -> bool:
    """A browser opening a page (a GET that asks for HTML): sent to the login form rather
    than shown a JSON 401, from off loopback or behind a proxy as on loopback."""
    if scope["method"] != "GET" or scope["path"].startswith("/api/"):
        return False
    accept = next((v for k, v in scope.get("headers", []) if k.lower() == b"accept"), b"")
    return b"text/html" in accept


async def _send_to_login(send: Send, scope: HTTPScope) -> None:
    from urllib.parse import quote

    query = scope.get("query_string") or b""
    target = scope["path"] + ("?" + query.decode("latin-1") if query else "")
    location = "/login?next=" + quote(target, safe="")
    headers = [(b"location", location.encode()), (b"content-length", b"0"), NOSNIFF]
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _send_error(send: Send, denied: Denied) -> None:
    import msgspec

    body = msgspec.json.encode({"error": denied.message})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        NOSNIFF,
    ]
    headers += [(k.lower().encode(), v.encode()) for k, v in denied.headers.items()]
    if denied.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="queuectl"'))
    await send({"type": "http.response.start", "status": denied.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})

"""Who may do what, checked once for every request before any route runs.

The rules (README, "Security"): a server without a token serves loopback clients only; with
a token, every change needs it, and so does every request from off loopback except
/healthz (and /metrics with --metrics-public). A browser sends the token as an HttpOnly
cookie set by POST /login, and a cookie-authenticated change must also repeat the CSRF
cookie in a header (double submit), which a page on another site cannot read. Unsafe
requests from another origin are refused whatever they carry.
"""

from __future__ import annotations

import hmac
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

from litestar.types import ASGIApp, Receive, Scope, Send

from queuectl.web.settings import ServeSettings, is_loopback

TOKEN_COOKIE = "queuectl_token"
CSRF_COOKIE = "queuectl_csrf"
CSRF_HEADER = "x-queuectl-csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Tool 000 changed things with GET; those count as changes here.
UNSAFE_GETS = frozenset({"/worker/stop", "/worker/start"})
# Reachable without a token from anywhere: liveness, the login form, its assets.
PUBLIC_PATHS = frozenset({"/healthz", "/login", "/logout"})
PUBLIC_PREFIXES = ("/static/",)


class Denied(Exception):
    """A request the rules refuse: its status and one-line reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def is_change(method: str, path: str) -> bool:
    """Whether a request may change something (so it needs the token, and read-only refuses
    it). Logging in and out changes nothing on the server."""
    if path in ("/login", "/logout"):
        return False
    return method not in SAFE_METHODS or path in UNSAFE_GETS


def _headers(scope: Scope) -> dict[str, str]:
    pairs = scope.get("headers", [])
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in pairs}


def _cookies(headers: dict[str, str]) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:  # a malformed Cookie header is treated as no cookie
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


class Rules:
    """The decision for one request, from the settings and what the request carries."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings

    def check(self, method: str, path: str, client: str | None, headers: dict[str, str]) -> str:
        """Return how the request authenticated ("bearer", "cookie" or "none"), or raise
        Denied."""
        change = is_change(method, path)
        if change:
            self._check_origin(headers)
        if self.settings.token is None:
            self._check_local(client, headers)
            how = "none"
            cookies = _cookies(headers)
            if change and TOKEN_COOKIE in cookies:
                self._check_csrf(headers, cookies)
        else:
            how = self._authenticate(method, path, client, headers, change)
        if change and self.settings.read_only:
            raise Denied(403, "this server is read-only (--read-only): changes are refused")
        return how

    def _public(self, path: str) -> bool:
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            return True
        return path == "/metrics" and self.settings.metrics_public

    def _authenticate(
        self, method: str, path: str, client: str | None, headers: dict[str, str], change: bool
    ) -> str:
        token = self.settings.token
        assert token is not None
        authorization = headers.get("authorization")
        if authorization is not None:
            scheme, _, given = authorization.partition(" ")
            if scheme.lower() != "bearer" or not same_secret(given.strip(), token):
                raise Denied(401, "invalid token in the Authorization header")
            return "bearer"
        cookies = _cookies(headers)
        if TOKEN_COOKIE in cookies and same_secret(cookies[TOKEN_COOKIE], token):
            if change:
                self._check_csrf(headers, cookies)
            return "cookie"
        local = client is not None and is_loopback(client)
        if change or not (local or self._public(path)):
            raise Denied(401, "authentication required: send 'Authorization: Bearer <token>'")
        return "none"

    @staticmethod
    def _check_csrf(headers: dict[str, str], cookies: dict[str, str]) -> None:
        expected = cookies.get(CSRF_COOKIE, "")
        given = headers.get(CSRF_HEADER, "")
        if not expected or not given or not same_secret(given, expected):
            raise Denied(403, "missing or wrong X-Queuectl-Csrf header (log in again)")

    @staticmethod
    def _check_origin(headers: dict[str, str]) -> None:
        origin = headers.get("origin")
        if origin is None:
            return
        if urlsplit(origin).netloc.lower() != headers.get("host", "").lower():
            raise Denied(403, "cross-origin change refused")

    def _check_local(self, client: str | None, headers: dict[str, str]) -> None:
        """Without a token only this machine may talk to the server; the Host check stops
        a DNS-rebinding page from reaching it through a name that resolves to 127.0.0.1."""
        if client is None or not is_loopback(client):
            raise Denied(401, "this server has no token and serves loopback clients only")
        host = headers.get("host", "")
        name = urlsplit(f"//{host}").hostname or ""
        if not (is_loopback(name) or name == self.settings.host.lower()):
            raise Denied(403, f"unexpected Host header {host[:100]!r} (use 127.0.0.1)")


class AuthMiddleware:
    """ASGI middleware applying `Rules`; refusals are JSON errors like every other."""

    def __init__(self, app: ASGIApp, settings: ServeSettings) -> None:
        self.app = app
        self.rules = Rules(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw: Any = scope  # a plain dict underneath; Litestar's TypedDicts are too narrow here
        if raw["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        client = raw.get("client")
        state: dict[str, Any] = raw.setdefault("state", {})
        try:
            how = self.rules.check(
                raw["method"], raw["path"], client[0] if client else None, headers
            )
        except Denied as denied:
            await _send_error(send, denied)
            return
        state["queuectl_auth"] = how
        await self.app(scope, receive, send)


async def _send_error(send: Send, denied: Denied) -> None:
    import msgspec

    body = msgspec.json.encode({"error": denied.message})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if denied.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="queuectl"'))
    await send({"type": "http.response.start", "status": denied.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})

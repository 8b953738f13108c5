"""`queuectl serve` (and tool 001's `dashboard`, tool 003's `webui`): the HTTP server.

The web stack (Litestar, uvicorn) is an extra and is imported only here, when the server
starts, so no other command pays for it or needs it installed.
"""

from __future__ import annotations

import os

import click

from queuectl.cli.context import App, pass_app


def _serve(
    app: App,
    host: str,
    port: int,
    token: str | None,
    read_only: bool = False,
    metrics_public: bool = False,
    allowed_hosts: tuple[str, ...] = (),
    forwarded_proto: str | None = None,
) -> None:
    try:
        import litestar  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise click.ClickException(
            "the web server is not installed: install queuectl[web]"
        ) from None
    from queuectl.web.settings import MIN_TOKEN_LENGTH, ServeSettings, is_loopback

    # The token is the server's secret: workers it starts and their jobs must not inherit it.
    os.environ.pop("QUEUECTL_TOKEN", None)
    if token is not None and not token.strip():
        raise click.UsageError("--token (or QUEUECTL_TOKEN) must not be empty")
    if token is not None and len(token.strip()) < MIN_TOKEN_LENGTH:
        raise click.UsageError(
            f"the token is {len(token.strip())} characters; use at least {MIN_TOKEN_LENGTH} "
            "random ones, for example: QUEUECTL_TOKEN=$(openssl rand -hex 24)"
        )
    if token is None and (allowed_hosts or forwarded_proto):
        raise click.UsageError(
            "--allowed-host and --forwarded-proto are for a server behind a proxy, where "
            "every client comes from loopback: set a token (QUEUECTL_TOKEN) too"
        )
    if token is None and not is_loopback(host):
        raise click.UsageError(
            f"refusing to serve on {host} without a token: anyone who reaches it could run "
            "commands (set QUEUECTL_TOKEN or --token, or bind 127.0.0.1)"
        )
    from queuectl.web.server import run

    run(
        ServeSettings(
            db=app.db,
            host=host,
            port=port,
            token=token.strip() if token else None,
            read_only=read_only,
            metrics_public=metrics_public,
            allowed_hosts=allowed_hosts,
            forwarded_proto=forwarded_proto,
        )
    )


_host = click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
_token = click.option(
    "--token",
    envvar="QUEUECTL_TOKEN",
    metavar="T",
    help="Bearer token clients must send (env QUEUECTL_TOKEN, which `ps` does not show), "
    "at least 16 characters: `openssl rand -hex 24` makes one. Required to bind anything "
    "but loopback.",
)


@click.command("serve")
@_host
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@_token
@click.option("--read-only", is_flag=True, help="Refuse every change (403).")
@click.option("--metrics-public", is_flag=True, help="Serve /metrics without the token.")
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    metavar="NAME",
    help="A host name clients use to reach the server (behind a proxy, say); repeatable; "
    "`.example.com` allows the domain and its subdomains. Loopback names and the bound "
    "address are always allowed; other names get 421. Needs a token, and then every "
    "request needs it (a proxy's clients all come from loopback).",
)
@click.option(
    "--forwarded-proto",
    type=click.Choice(["http", "https"]),
    help="What a reverse proxy in front serves: `https` makes the login cookies Secure. "
    "Needs a token, and then every request needs it.",
)
@pass_app
def serve(
    app: App,
    host: str,
    port: int,
    token: str | None,
    read_only: bool,
    metrics_public: bool,
    allowed_hosts: tuple[str, ...],
    forwarded_proto: str | None,
) -> None:
    """Serve the REST API (/api, /docs), the dashboard and /metrics over HTTP."""
    _serve(app, host, port, token, read_only, metrics_public, allowed_hosts, forwarded_proto)


@click.command("dashboard", hidden=True)
@_host
@click.option("--port", type=click.IntRange(0, 65535), default=5000)
@_token
@pass_app
def dashboard_alias(app: App, host: str, port: int, token: str | None) -> None:
    """Tool 001's spelling of `serve` (its default port was 5000)."""
    _serve(app, host, port, token)


@click.command("webui", hidden=True)
@_host
@click.option("--port", type=click.IntRange(0, 65535), default=5000)
@_token
@pass_app
def webui_alias(app: App, host: str, port: int, token: str | None) -> None:
    """Tool 003's spelling of `serve` (its default port was 5000)."""
    _serve(app, host, port, token)

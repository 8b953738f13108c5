"""`queuectl serve` (and tool 001's `dashboard`, tool 003's `webui`): the HTTP server.

The web stack (Litestar, uvicorn) is an extra and is imported only here, when the server
starts, so no other command pays for it or needs it installed.
"""

from __future__ import annotations

import click

from queuectl.cli.app import App, pass_app


def _serve(
    app: App, host: str, port: int, token: str | None, read_only: bool, metrics_public: bool
) -> None:
    try:
        import litestar  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise click.ClickException(
            "the web server is not installed: install queuectl[web]"
        ) from None
    from queuectl.web.settings import ServeSettings, is_loopback

    if token is not None and not token.strip():
        raise click.UsageError("--token (or QUEUECTL_TOKEN) must not be empty")
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
        )
    )


_host = click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
_token = click.option(
    "--token",
    envvar="QUEUECTL_TOKEN",
    metavar="T",
    help="Bearer token clients must send (env QUEUECTL_TOKEN, which `ps` does not show). "
    "Required to bind anything but loopback.",
)


@click.command("serve")
@_host
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@_token
@click.option("--read-only", is_flag=True, help="Refuse every change (403).")
@click.option("--metrics-public", is_flag=True, help="Serve /metrics without the token.")
@pass_app
def serve(
    app: App, host: str, port: int, token: str | None, read_only: bool, metrics_public: bool
) -> None:
    """Serve the REST API (/api, /docs), the dashboard and /metrics over HTTP."""
    _serve(app, host, port, token, read_only, metrics_public)


@click.command("dashboard", hidden=True)
@_host
@click.option("--port", type=click.IntRange(0, 65535), default=8080)
@_token
@pass_app
def dashboard_alias(app: App, host: str, port: int, token: str | None) -> None:
    """Tool 001's spelling of `serve`."""
    _serve(app, host, port, token, False, False)


@click.command("webui", hidden=True)
@_host
@click.option("--port", type=click.IntRange(0, 65535), default=5000)
@_token
@pass_app
def webui_alias(app: App, host: str, port: int, token: str | None) -> None:
    """Tool 003's spelling of `serve` (its default port was 5000)."""
    _serve(app, host, port, token, False, False)

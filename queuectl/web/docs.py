"""/docs: Swagger UI for the API, served from the files of the `swagger-ui-bundle-v2`
package (installed with queuectl[web]; it imports as `swagger_ui_bundle`), so the docs
work offline and under the same Content-Security-Policy as the dashboard: no CDN,
nothing inline, no framing."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from litestar import Response, get
from litestar.exceptions import NotFoundException
from litestar.openapi.spec import Components, SecurityScheme
from litestar.params import FromPath

from queuectl.web.csp import PAGE_HEADERS

ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
}
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>queuectl API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
"""
# Our own start-up script (a file, not inline: the CSP allows no inline script).
INIT = b"""window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  withCredentials: true,
});
"""


@cache
def _folder() -> Path:
    import swagger_ui_bundle

    return Path(swagger_ui_bundle.swagger_ui_path)


def security_components() -> Components:
    """How a client authenticates (docs/http-api.md, "Security"): a bearer token, or the dashboard's
    session cookie. Loopback reads on a server without a token need neither."""
    return Components(
        security_schemes={
            "bearer": SecurityScheme(
                type="http",
                scheme="bearer",
                description="The server's token (`--token` or QUEUECTL_TOKEN).",
            ),
            "session": SecurityScheme(
                type="apiKey",
                security_scheme_in="cookie",
                name="queuectl_session",
                description="Set by POST /login; changes also need the X-Queuectl-Csrf header.",
            ),
        }
    )


@get("/docs", include_in_schema=False, sync_to_thread=False)
def docs_page() -> Response[str]:
    return Response(PAGE, media_type="text/html", headers=PAGE_HEADERS)


@get("/docs/{name:str}", include_in_schema=False, sync_to_thread=False)
def docs_asset(name: FromPath[str]) -> Response[bytes]:
    if name == "init.js":
        return Response(INIT, media_type="text/javascript", headers={"Cache-Control": "no-cache"})
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFoundException(f"no docs file {name!r}")
    body = (_folder() / name).read_bytes()
    return Response(body, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})


HANDLERS = [docs_page, docs_asset]

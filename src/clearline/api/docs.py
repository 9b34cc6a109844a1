"""The API's documentation pages, served whole by the platform: Swagger UI at `/docs`, ReDoc at
`/redoc`, their scripts and styles under `/docs/static/<version>/`.

Guarantees:
- No request from these pages leaves the server's own origin. The JavaScript, CSS and favicon
  are the files the pinned `fastapi-offline` package ships (Swagger UI 5, ReDoc 2), not a CDN's,
  so the pages work offline and on closed bank networks. Each page is sent with a
  Content-Security-Policy that allows only `'self'`, plus a fresh per-response nonce for its own
  inline script and styles (and, on /redoc, the hashes of the one `<style>` ReDoc inserts before
  it can take the nonce), so the browser itself refuses anything else: a font, a validator
  badge, a script a future asset might reference, and the Redocly logo that ReDoc 2's sidebar
  footer hard-codes from Redocly's CDN (refused, so not shown).
- Swagger UI's online validator is switched off (`validatorUrl: null`): by default it sends the
  spec's URL to a public validator service.
- Assets are cached for a year and marked immutable; their URL carries the asset package's
  version, so an upgrade is a new URL and no browser keeps a stale bundle. The HTML pages are
  `no-cache` (their nonce is new on every response).
- The pages are public, as `/openapi.json` is: they show only what that document already says,
  and every call made from them still needs `Authorization: Bearer KEY`.

Why the two HTML pages are written here rather than taken from `fastapi.openapi.docs`: FastAPI's
`get_swagger_ui_html` and `get_redoc_html` emit inline `<script>`/`<style>` elements without a
nonce, and ReDoc's only way to put a nonce on the styles it inserts is its `nonce` option, which
its HTML-attribute form cannot carry (browsers hide nonce attributes from scripts). The assets
and their upgrades stay with the package. No OAuth2 redirect page: the API authenticates with
bearer keys, not an OAuth2 flow Swagger UI would drive.
"""

from __future__ import annotations

import html
import json
import secrets
from importlib.metadata import version
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
ASSETS_PACKAGE = "fastapi-offline"
ASSETS_DIRECTORY = Path(fastapi_offline.__file__).parent / "static"
ASSETS_PATH = f"{DOCS_PATH}/static/{version(ASSETS_PACKAGE)}"
"""Versioned, so a long `immutable` cache never serves an old bundle after an upgrade."""
ASSET_MAX_AGE_S = 365 * 24 * 3600
NONCE_BYTES = 16

SWAGGER_UI_PARAMETERS: dict[str, Any] = {
    "dom_id": "#swagger-ui",
    "layout": "BaseLayout",
    "deepLinking": True,
    "showExtensions": True,
    "showCommonExtensions": True,
    "validatorUrl": None,
}
"""FastAPI's defaults, plus no online validator (it would send the spec's URL off the machine)."""

REDOC_STYLE_HASHES = (
    "sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc=",
    "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
)
"""The `<style>` element ReDoc's bundle inserts while it loads, before `Redoc.init` can hand it
the nonce (perfect-scrollbar's CSS, in fastapi-offline 1.7.7's redoc.standalone.js), by the hash
of its text and of the empty text it is inserted with. Another bundle has other hashes: the
browser test then fails on the refused style rather than the sidebar losing its scrollbars."""


class _CachedAssets(StaticFiles):
    """The packaged files with a year-long immutable cache (their URL changes with the version)."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = f"public, max-age={ASSET_MAX_AGE_S}, immutable"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def content_security_policy(nonce: str, style_hashes: tuple[str, ...] = ()) -> str:
    """Only this origin, and inline code only when it carries `nonce` (or, for a `<style>`
    element, when its text has one of `style_hashes`)."""
    styles = " ".join(f"'{digest}'" for digest in style_hashes)
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src 'self' 'nonce-{nonce}'",
            f"style-src 'self' 'nonce-{nonce}' {styles}".rstrip(),
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "worker-src 'self' blob:",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def script_json(value: Any) -> str:
    """`value` as JSON that cannot close the `<script>` element it is written into."""
    text = json.dumps(value)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def swagger_ui_page(title: str, openapi_url: str, root: str, nonce: str) -> str:
    config = {"url": openapi_url, **SWAGGER_UI_PARAMETERS}
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} API: Swagger UI</title>
<link rel="stylesheet" href="{root}{ASSETS_PATH}/swagger-ui.css">
<link rel="icon" href="{root}{ASSETS_PATH}/favicon.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{root}{ASSETS_PATH}/swagger-ui-bundle.js"></script>
<script nonce="{nonce}">
const config = {script_json(config)};
config.presets = [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset];
window.ui = SwaggerUIBundle(config);
</script>
</body>
</html>
"""


def redoc_page(title: str, openapi_url: str, root: str, nonce: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} API: ReDoc</title>
<link rel="icon" href="{root}{ASSETS_PATH}/favicon.png">
<style nonce="{nonce}">body {{ margin: 0; padding: 0; }}</style>
</head>
<body>
<noscript>ReDoc needs JavaScript to show the API reference.</noscript>
<div id="redoc"></div>
<script src="{root}{ASSETS_PATH}/redoc.standalone.js"></script>
<script nonce="{nonce}">
Redoc.init({script_json(openapi_url)}, {script_json({"nonce": nonce})},
  document.getElementById("redoc"));
</script>
</body>
</html>
"""


def _page_response(html: str, nonce: str, style_hashes: tuple[str, ...] = ()) -> HTMLResponse:
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": content_security_policy(nonce, style_hashes),
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _root(scope: Scope) -> str:
    return str(scope.get("root_path", ""))


def install_docs(app: FastAPI) -> None:
    """Serve Swagger UI at `/docs`, ReDoc at `/redoc` and their assets, all from this app; the
    app must be created with `docs_url=None, redoc_url=None` (FastAPI's own pages use a CDN)."""
    assert app.docs_url is None and app.redoc_url is None, "FastAPI's CDN docs are still on"
    assert app.openapi_url is not None, "the docs pages read the app's OpenAPI document"
    openapi_path = app.openapi_url
    app.mount(ASSETS_PATH, _CachedAssets(directory=ASSETS_DIRECTORY), name="docs-assets")

    async def swagger_ui(request: Request) -> HTMLResponse:
        nonce = secrets.token_urlsafe(NONCE_BYTES)
        root = _root(request.scope)
        return _page_response(swagger_ui_page(app.title, root + openapi_path, root, nonce), nonce)

    async def redoc(request: Request) -> HTMLResponse:
        nonce = secrets.token_urlsafe(NONCE_BYTES)
        root = _root(request.scope)
        page = redoc_page(app.title, root + openapi_path, root, nonce)
        return _page_response(page, nonce, REDOC_STYLE_HASHES)

    app.add_api_route(DOCS_PATH, swagger_ui, methods=["GET"], include_in_schema=False)
    app.add_api_route(REDOC_PATH, redoc, methods=["GET"], include_in_schema=False)

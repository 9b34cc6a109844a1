"""The docs pages over HTTP (the browser test renders them): public like /openapi.json, sent with
a Content-Security-Policy that allows only the server's own origin and a nonce that is new on
every response, and assets served by the server itself with a long immutable cache."""

from __future__ import annotations

import re
from typing import Any

import pytest

ASSET_PATH = re.compile(r'(?:src|href)="(/docs/static/[^"]+)"')
NONCE = re.compile(r"'nonce-([A-Za-z0-9_-]+)'")
EXTERNAL_URL = re.compile(r"""(?:src|href)=["']?(?:https?:)?//""")


def policy_of(response: Any) -> dict[str, list[str]]:
    """The Content-Security-Policy header as {directive: sources}."""
    directives = [part.split() for part in response.headers["content-security-policy"].split(";")]
    return {words[0]: words[1:] for words in directives if words}


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
def test_docs_are_public_like_the_openapi_document(api_server: Any, path: str) -> None:
    response = api_server.client().get(path)
    assert response.status_code == 200, response.text
    assert "authorization" not in {name.lower() for name in response.request.headers}


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_allow_only_self_and_their_nonce(api_server: Any, path: str) -> None:
    first, second = api_server.client().get(path), api_server.client().get(path)
    policy = policy_of(first)
    assert policy["default-src"] == ["'none'"], policy
    nonce = NONCE.search(first.headers["content-security-policy"])
    assert nonce is not None, policy
    own = ["'self'", f"'nonce-{nonce.group(1)}'"]
    assert policy["script-src"] == own, policy
    # /redoc adds the hashes of the style its bundle inserts before it can take the nonce
    assert policy["style-src"][:2] == own, policy
    assert all(source.startswith("'sha256-") for source in policy["style-src"][2:]), policy
    assert len(policy["style-src"]) == (2 if path == "/docs" else 4), policy
    for directive, sources in policy.items():
        assert "'unsafe-inline'" not in sources and "'unsafe-eval'" not in sources, directive
        assert all(source.startswith(("'", "data:", "blob:")) for source in sources), directive
    assert f'nonce="{nonce.group(1)}"' in first.text
    assert NONCE.search(second.headers["content-security-policy"]) != nonce
    assert second.headers["content-security-policy"] != first.headers["content-security-policy"]
    assert first.headers["cache-control"] == "no-cache"
    assert not EXTERNAL_URL.search(first.text), first.text


def test_swagger_ui_has_no_online_validator(api_server: Any) -> None:
    page = api_server.client().get("/docs").text
    assert '"validatorUrl": null' in page, page


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_assets_are_served_here_with_a_long_cache(api_server: Any, path: str) -> None:
    client = api_server.client()
    assets = ASSET_PATH.findall(client.get(path).text)
    assert len(assets) >= 2, assets
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 1000, asset
        assert "immutable" in response.headers["cache-control"], response.headers
        assert "max-age=31536000" in response.headers["cache-control"], response.headers
        assert response.headers["x-content-type-options"] == "nosniff"


def test_an_unknown_asset_is_not_found(api_server: Any) -> None:
    assets = ASSET_PATH.findall(api_server.client().get("/docs").text)
    missing = assets[0].rsplit("/", 1)[0] + "/not-there.js"
    assert api_server.client().get(missing).status_code == 404

"""/docs and /redoc in a real browser (Debian's headless Chromium driven by Playwright), offline:
every request the page makes stays on the server's loopback origin, the content policy refuses
even another loopback origin, no script error or policy violation is logged, and every operation
of the OpenAPI document is on the page. A failure leaves a screenshot in the test's tmp directory.

"Stays on the machine" means: every request the page starts is to this machine, except those the
browser itself refuses under the page's Content-Security-Policy before sending them, and those
must be the known ones in `REFUSED_BY_POLICY`. ReDoc 2 hard-codes one: the Redocly logo in its
sidebar footer, loaded from Redocly's CDN (the bundle hides the image when it fails to load).

Playwright never downloads a browser here: it launches /usr/bin/chromium. Any request to a host
that is not this machine that got past the policy is aborted by the page's router before it is
sent, so even a broken page cannot send traffic off the machine; such a request fails the test.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
RENDER_TIMEOUT_MS = 30_000
OTHER_LOOPBACK_ORIGIN = "http://127.0.0.2:9"
"""Another origin on this machine: the content policy must refuse it (and if it did not, the
request would still stay on loopback)."""
PAYMENTS_PATH = "/v1/payments"
REDOCLY_LOGO_URL = "https://cdn.redoc.ly/redoc/logo-mini.svg"
REFUSED_BY_POLICY = {"/docs": frozenset[str](), "/redoc": frozenset({REDOCLY_LOGO_URL})}
"""Per page, the off-machine URLs its assets try to load and its policy refuses (and nothing
else)."""
POLICY_FAILURE = "csp"
"""Playwright's failure text for a request the Content-Security-Policy blocked."""

Needs = Callable[[str, Callable[[], bool] | bool, str], None]


@dataclass
class Recorder:
    """What a page asked for and complained about."""

    requests: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    """Refused by the page's Content-Security-Policy: never sent."""
    aborted: list[str] = field(default_factory=list)
    """Off-machine requests the policy let through, stopped by the test's router."""
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def off_machine(self) -> list[str]:
        """Requests to other hosts that the browser did not refuse by policy."""
        return [url for url in self.requests if not is_local(url) and url not in self.refused]

    def on_failed(self, url: str, failure: str | None) -> None:
        if failure == POLICY_FAILURE:
            self.refused.append(url)


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return parts.scheme in ("http", "https", "ws", "wss") and (parts.hostname or "") in {
        host.strip("[]") for host in LOCAL_HOSTS
    }


@pytest.fixture(scope="module")
def browser(needs: Needs) -> Iterator[Any]:
    needs(
        "Chromium (/usr/bin/chromium)",
        CHROMIUM.exists,
        "apt-get update && apt-get install -y chromium",
    )
    needs(
        "Playwright for Python",
        lambda: importlib.util.find_spec("playwright") is not None,
        ".venv/bin/python -m pip install -c constraints.txt -e '.[dev]' "
        "(never `playwright install`: the tests use /usr/bin/chromium)",
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--disable-gpu", "--disable-quic", "--disable-background-networking"],
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def open_page(browser: Any, tmp_path: Path) -> Iterator[Callable[[str], tuple[Any, Recorder]]]:
    """`open_page(url)`: a fresh page on `url` with its requests and errors recorded."""
    contexts: list[Any] = []

    def open_(url: str) -> tuple[Any, Recorder]:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(RENDER_TIMEOUT_MS)
        recorder = Recorder()
        page.on("request", lambda request: recorder.requests.append(request.url))
        page.on("requestfailed", lambda request: recorder.on_failed(request.url, request.failure))
        page.on(
            "console",
            lambda message: (
                recorder.console_errors.append(message.text) if message.type == "error" else None
            ),
        )
        page.on("pageerror", lambda error: recorder.page_errors.append(str(error)))

        def guard(route: Any) -> None:
            if is_local(route.request.url):
                route.continue_()
            else:
                recorder.aborted.append(route.request.url)
                route.abort("blockedbyclient")

        page.route("**/*", guard)
        page.goto(url, wait_until="networkidle")
        return page, recorder

    yield open_
    for context in contexts:
        context.close()


@contextlib.contextmanager
def screenshot_on_failure(page: Any, recorder: Recorder, path: Path) -> Iterator[None]:
    """On failure: a full-page screenshot at `path`, and what the page asked for and logged."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(path), full_page=True)
        print(f"screenshot of the failing page: {path}")
        print(f"requests: {recorder.requests}\nrefused by policy: {recorder.refused}")
        print(f"aborted off-machine: {recorder.aborted}")
        print(f"console errors: {recorder.console_errors}\npage errors: {recorder.page_errors}")
        raise


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation of the OpenAPI document, as the docs pages should show it."""

    method: str
    path: str
    operation_id: str
    summary: str


def operations_of(spec: dict[str, Any]) -> list[Operation]:
    """Every operation in an OpenAPI document."""
    return [
        Operation(method, path, str(item_operation["operationId"]), str(item_operation["summary"]))
        for path, item in spec["paths"].items()
        for method, item_operation in item.items()
        if method in HTTP_METHODS
    ]


@pytest.fixture(scope="module")
def operations(api_server: Any) -> list[Operation]:
    response = api_server.client().get("/openapi.json")
    assert response.status_code == 200, response.text
    return operations_of(response.json())


@pytest.fixture(scope="module")
def create_payment(operations: list[Operation]) -> Operation:
    """POST /v1/payments, the operation both pages must show."""
    (found,) = [op for op in operations if (op.method, op.path) == ("post", PAYMENTS_PATH)]
    return found


def assert_stayed_on_machine(recorder: Recorder, base_url: str, page_path: str) -> None:
    refused_by_policy = REFUSED_BY_POLICY[page_path]
    assert not recorder.off_machine(), recorder.off_machine()
    assert not recorder.aborted, recorder.aborted
    assert set(recorder.refused) <= refused_by_policy, recorder.refused
    for path in (page_path, "/docs/static/", "/openapi.json"):  # the recording works
        assert any(url.startswith(base_url + path) for url in recorder.requests), (
            path,
            recorder.requests,
        )
    assert not recorder.page_errors, recorder.page_errors
    unexpected = [
        text
        for text in recorder.console_errors
        if not any(
            f"'{url}'" in text and "Content Security Policy" in text for url in refused_by_policy
        )
    ]
    assert not unexpected, unexpected


def policy_refuses_other_origins(page: Any) -> str:
    """The directive the page's policy names when a script fetches another (loopback) origin."""
    script = """async (url) => {
        const refused = new Promise((resolve) => document.addEventListener(
            "securitypolicyviolation", (event) => resolve(event.violatedDirective), {once: true}));
        fetch(url).catch(() => null);
        return await Promise.race([
            refused, new Promise((resolve) => setTimeout(() => resolve("allowed"), 5000))]);
    }"""
    return str(page.evaluate(script, f"{OTHER_LOOPBACK_ORIGIN}/probe"))


def test_swagger_ui_renders_every_operation_offline(
    api_server: Any,
    open_page: Callable[[str], tuple[Any, Recorder]],
    operations: list[Operation],
    create_payment: Operation,
    tmp_path: Path,
) -> None:
    page, recorder = open_page(f"{api_server.base_url}/docs")
    with screenshot_on_failure(page, recorder, tmp_path / "docs.png"):
        payments = page.locator(
            f'.opblock.opblock-post:has(.opblock-summary-path[data-path="{PAYMENTS_PATH}"])'
        )
        payments.first.wait_for(state="visible")
        assert payments.count() == 1
        summary = payments.locator(".opblock-summary-description").inner_text()
        assert summary == create_payment.summary
        assert page.locator(".opblock").count() == len(operations)
        assert_stayed_on_machine(recorder, api_server.base_url, "/docs")
        assert policy_refuses_other_origins(page) == "connect-src"
        assert not recorder.off_machine(), recorder.off_machine()


def test_redoc_renders_every_operation_offline(
    api_server: Any,
    open_page: Callable[[str], tuple[Any, Recorder]],
    operations: list[Operation],
    create_payment: Operation,
    tmp_path: Path,
) -> None:
    page, recorder = open_page(f"{api_server.base_url}/redoc")
    with screenshot_on_failure(page, recorder, tmp_path / "redoc.png"):
        # ReDoc wraps each operation (`operation/ID`) in its tag's section (`tag/T/operation/ID`)
        payments = page.locator(f'[data-section-id="operation/{create_payment.operation_id}"]')
        payments.first.wait_for(state="visible")
        assert payments.count() == 1
        assert payments.locator("h2").inner_text() == create_payment.summary
        assert PAYMENTS_PATH in payments.inner_text()
        assert page.locator('[data-section-id^="operation/"]').count() == len(operations)
        assert_stayed_on_machine(recorder, api_server.base_url, "/redoc")
        assert policy_refuses_other_origins(page) == "connect-src"
        assert not recorder.off_machine(), recorder.off_machine()

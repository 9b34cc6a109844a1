"""Fixtures for the end-to-end API tests: a real `clearline serve` process on a free port.

Every test here talks HTTP to a server started with `subprocess` (no app object, no mocks). The
data directory carries a `rules.yaml` that makes risk decisions deterministic without a model:
- amount_usd in [REVIEW_FROM_USD, DECLINE_FROM_USD) → review;
- amount_usd ≥ DECLINE_FROM_USD → decline;
- a payment from the device named BLOCKED_DEVICE → decline (block list).

Helpers are handed out as fixtures, so test modules import nothing from here:
- `api_server`: one server per test session (long review timeout), an `Api` object;
- `launch_api`: `launch_api(review_timeout_s=…)` starts another server (torn down at session end).

An `Api` has the admin key, `client(key)` for an httpx client, `key(role, customer=None)` for a
new key over HTTP, `cli(*args)` to run the `clearline` command on the server's data directory,
`party(...)`: a new customer with a funded wallet, and `raise_tier(customer_id, tier)`: add the
documents the tier needs (synthetic MRZ, `clearline.kyc.specimens`), then raise it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from clearline.kyc.specimens import specimen_documents

CLEARLINE = Path(sys.executable).with_name("clearline")
STARTUP_TIMEOUT_S = 90.0
SHUTDOWN_TIMEOUT_S = 20.0
HTTP_TIMEOUT_S = 60.0
REVIEW_FROM_USD = 100
DECLINE_FROM_USD = 1000
BLOCKED_DEVICE = "stolen-phone-1"
PROBLEM_MEDIA_TYPE = "application/problem+json"


def device_number(device: str) -> int:
    """The number the payment service files a device id under (its block list key)."""
    return int.from_bytes(hashlib.sha256(device.encode()).digest()[:8], "big") >> 1


RULES_YAML = f"""\
version: 1
rules:
  - name: e2e_review_band
    typology: e2e
    when: amount_usd >= {REVIEW_FROM_USD} and amount_usd < {DECLINE_FROM_USD}
    action: review
    weight: 1
  - name: e2e_decline_large
    typology: e2e
    when: amount_usd >= {DECLINE_FROM_USD}
    action: decline
    weight: 5
lists:
  allow_accounts: []
  block_accounts: []
  block_devices: [{device_number(BLOCKED_DEVICE)}]
"""


GENEROUS_LIMITS = "".join(
    f"[rate_limits.{role}]\nrequests_per_s = 100000\nburst = 100000\n\n"
    for role in ("admin", "operator", "analyst", "auditor", "customer")
)
"""platform.toml of the shared servers: tests send bursts no real client would; the rate limit
tests start servers with the defaults or their own."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Party:
    """A customer with one wallet: ids and the key bound to the customer."""

    customer_id: str
    account_id: str
    key: str
    asset: str


@dataclass
class Api:
    """A running server: its URL, data directory, admin key and helpers."""

    base_url: str
    data_dir: Path
    admin_key: str
    process: subprocess.Popen[bytes]
    log_path: Path
    _clients: dict[tuple[tuple[str, str], ...], httpx.Client] = field(default_factory=dict)
    _operator: str | None = None

    def client(self, key: str | None = None, **headers: str) -> httpx.Client:
        """An HTTP client sending `key` (and `headers`) on every request; clients are reused
        (one TLS-capable client costs ~0.1 s to build)."""
        sent = dict(headers)
        if key is not None:
            sent["Authorization"] = f"Bearer {key}"
        cache_key = tuple(sorted(sent.items()))
        client = self._clients.get(cache_key)
        if client is None:
            client = httpx.Client(
                base_url=self.base_url, headers=sent, timeout=HTTP_TIMEOUT_S, verify=False
            )
            self._clients[cache_key] = client
        return client

    @property
    def admin(self) -> httpx.Client:
        return self.client(self.admin_key)

    def key(self, role: str, customer_id: str | None = None, label: str = "") -> str:
        """A new key made over HTTP by the admin; returns the key itself."""
        body: dict[str, Any] = {"role": role, "label": label}
        if customer_id is not None:
            body["customer_id"] = customer_id
        response = self.admin.post("/v1/keys", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["key"])

    def cli_command(self) -> list[str]:
        """`clearline --data-dir <this server's>`: append a command and its arguments."""
        return [str(CLEARLINE), "--data-dir", str(self.data_dir)]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.cli_command(), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    @property
    def operator(self) -> httpx.Client:
        if self._operator is None:
            self._operator = self.key("operator", label="fixture operator")
        return self.client(self._operator)

    def omnibus(self, asset: str) -> str:
        response = self.operator.post("/v1/accounts", json={"asset": asset, "kind": "omnibus"})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def fund(self, account_id: str, amount: str, asset: str = "USD") -> None:
        response = self.operator.post(
            "/v1/transfers",
            json={
                "transfers": [
                    {
                        "debit_account_id": self.omnibus(asset),
                        "credit_account_id": account_id,
                        "amount": amount,
                        "asset": asset,
                    }
                ]
            },
        )
        assert response.status_code == 200, response.text
        assert response.json()["ok"] == 1, response.text

    def party(
        self,
        name: str = "Ada",
        *,
        kind: str = "person",
        tier: int = 2,
        asset: str = "USD",
        funds: str | None = "5000",
    ) -> Party:
        """A customer of `tier` with one wallet in `asset` holding `funds`, and its own key
        (onboarded at tier 1 at most, then raised with the documents the tier needs)."""
        operator = self.operator
        response = operator.post(
            "/v1/customers", json={"name": name, "kind": kind, "tier": min(tier, 1)}
        )
        assert response.status_code == 201, response.text
        customer_id = response.json()["id"]
        if tier > 1:
            self.raise_tier(customer_id, tier)
        response = operator.post("/v1/accounts", json={"customer_id": customer_id, "asset": asset})
        assert response.status_code == 201, response.text
        account_id = response.json()["id"]
        if funds is not None:
            self.fund(account_id, funds, asset)
        return Party(customer_id, account_id, self.key("customer", customer_id), asset)

    def raise_tier(self, customer_id: str, tier: int, country: str = "US") -> None:
        """Add the documents `tier` needs to the customer (issued in `country`), then set it."""
        for document in specimen_documents(customer_id, country, tier):
            added = self.operator.post(f"/v1/customers/{customer_id}/documents", json=document)
            assert added.status_code == 201, added.text
        patched = self.operator.patch(f"/v1/customers/{customer_id}", json={"tier": tier})
        assert patched.status_code == 200, patched.text

    def balance(self, account_id: str) -> dict[str, str]:
        response = self.admin.get(f"/v1/accounts/{account_id}/balance")
        assert response.status_code == 200, response.text
        body: dict[str, str] = response.json()
        return body

    @staticmethod
    def payment_body(payer: Party, payee: Party, amount: str, **fields: Any) -> dict[str, Any]:
        """The body of `POST /v1/payments` from `payer`'s wallet to `payee`'s."""
        return {
            "source_account_id": payer.account_id,
            "destination_account_id": payee.account_id,
            "amount": amount,
            "asset": payer.asset,
            **fields,
        }

    def pay(
        self,
        payer: Party,
        payee: Party,
        amount: str,
        client: httpx.Client | None = None,
        **fields: Any,
    ) -> httpx.Response:
        body = self.payment_body(payer, payee, amount, **fields)
        return (client or self.operator).post("/v1/payments", json=body)

    def close_clients(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


def _start(
    data_dir: Path,
    review_timeout_s: int,
    admin_key: str | None = None,
    settings: str | None = GENEROUS_LIMITS,
) -> Api:
    """A server on `data_dir`; `admin_key`: a restart (the first run printed the key);
    `settings`: its platform.toml (None: none, the defaults)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "rules.yaml").write_text(RULES_YAML, encoding="utf-8")
    if settings is not None:
        (data_dir / "platform.toml").write_text(settings, encoding="utf-8")
    port = free_port()
    log_path = data_dir.parent / f"{data_dir.name}-server.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [
            str(CLEARLINE),
            "--data-dir",
            str(data_dir),
            "serve",
            "--port",
            str(port),
            "--review-timeout",
            str(review_timeout_s),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    log.close()
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {log_path.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                break
        if time.monotonic() > deadline:
            _stop(process)
            raise RuntimeError(f"server did not answer /healthz: {log_path.read_text()}")
        time.sleep(0.1)
    if admin_key is None:  # the first run prints it on a line of its own
        admin_key = next(
            (line.strip() for line in log_path.read_text().splitlines() if line.startswith("clk_")),
            "",
        )
    assert admin_key.startswith("clk_"), log_path.read_text()
    return Api(base_url, data_dir, admin_key, process, log_path)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=SHUTDOWN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=SHUTDOWN_TIMEOUT_S)


@pytest.fixture(scope="session")
def launch_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Api]]:
    """Start servers on demand; every one is stopped (SIGINT, then SIGKILL) at session end."""
    started: list[Api] = []

    def launch(
        review_timeout_s: int = 3600,
        restart: Api | None = None,
        settings: str | None = GENEROUS_LIMITS,
    ) -> Api:
        """A new server, or `restart`'s data directory served again after stopping it;
        `settings`: the new server's platform.toml (None: the defaults)."""
        if restart is None:
            api = _start(
                tmp_path_factory.mktemp("clearline") / "data", review_timeout_s, settings=settings
            )
        else:
            restart.close_clients()
            _stop(restart.process)
            api = _start(restart.data_dir, review_timeout_s, admin_key=restart.admin_key)
        started.append(api)
        return api

    yield launch
    for api in started:
        api.close_clients()
        _stop(api.process)


@pytest.fixture(scope="session")
def api_server(launch_api: Callable[..., Api]) -> Api:
    """The shared server of the session (reviews hold funds for an hour)."""
    return launch_api()


@pytest.fixture(scope="session")
def problem_of() -> Callable[..., dict[str, Any]]:
    """`problem_of(response, status, code=None)`: check an RFC 9457 problem and return it."""

    def check(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
        assert response.status_code == status, (response.status_code, response.text)
        assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE), response.headers
        body: dict[str, Any] = response.json()
        assert body["status"] == status, body
        assert isinstance(body["code"], str) and body["code"], body
        assert body["type"].endswith("/" + body["code"]), body
        assert body.get("detail"), body
        if code is not None:
            assert body["code"] == code, body
        return body

    return check


@pytest.fixture(scope="session")
def blocked_device() -> str:
    """A device id on the server's block list: payments from it are declined."""
    return BLOCKED_DEVICE

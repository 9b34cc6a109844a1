"""SIGTERM with requests in flight: the server stops accepting, answers what it accepted, closes
the ledger and the log cleanly and exits 0; nothing it acknowledged is lost."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

CLIENTS = 8


def test_sigterm_answers_every_accepted_request_then_exits_0(
    launch_api: Callable[..., Any],
) -> None:
    api = launch_api()
    payer, payee = api.party("Payer", funds="100000"), api.party("Payee", funds=None)
    operator_key = api.key("operator", label="sigterm load")
    body = api.payment_body(payer, payee, "1.00")
    outcomes: Counter[str] = Counter()
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def load() -> None:
        # a new connection per request: each one is either refused or accepted and answered
        with httpx.Client(
            base_url=api.base_url,
            headers={"Authorization": f"Bearer {operator_key}"},
            limits=httpx.Limits(max_keepalive_connections=0),
            timeout=30,
        ) as client:
            while not stop.is_set():
                try:
                    response = client.post("/v1/payments", json=body)
                except httpx.ConnectError:
                    outcome = "refused"
                    stop.wait(0.01)
                except httpx.TransportError as error:  # reset or cut after it was accepted
                    outcome = f"cut: {type(error).__name__}: {error}"
                else:
                    outcome = str(response.status_code)
                    if response.status_code == 201:
                        with lock:
                            acknowledged.append(response.json()["id"])
                with lock:
                    outcomes[outcome] += 1

    threads = [threading.Thread(target=load) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    while sum(outcomes.values()) < 200:  # well into the load
        time.sleep(0.05)
    api.process.send_signal(signal.SIGTERM)
    try:
        status = api.process.wait(timeout=60)
    finally:
        time.sleep(0.3)  # a moment of refusals after the exit
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    cut = {outcome: n for outcome, n in outcomes.items() if outcome.startswith("cut")}
    assert status == 0, api.log_path.read_text()
    assert not cut, (cut, outcomes)
    assert outcomes["201"] >= 200 and outcomes["refused"] > 0, outcomes
    log = api.log_path.read_text()
    assert "stopped: requests answered, ledger and log closed" in log, log
    assert "Traceback" not in log, log

    verified = subprocess.run(
        [*api.cli_command(), "ledger", "verify"], capture_output=True, text=True, timeout=300
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    restarted = launch_api(restart=api)
    for payment_id in acknowledged[-50:]:  # nothing acknowledged was lost
        found = restarted.admin.get(f"/v1/payments/{payment_id}")
        assert found.status_code == 200 and found.json()["status"] == "completed", found.text

"""API benchmark: payments/s and latency through HTTP with the full path, and the batch endpoint.

Run: `python -m bench.api` (`--quick` for a short smoke run). Figures go to
bench/results/api.json; docs/benchmarks.md records them with the command and the machine.

What happens, all in this run:
1. A small world is simulated and a fraud model trained on it (`clearline simulate`,
   `clearline risk train`) into the server's data directory, so every payment is scored by a real
   LightGBM model with its reasons, not by rules alone.
2. `clearline serve` starts as its own process on a fresh data directory (sealed ledger, log,
   platform records). Customers (KYC tier 3), wallets and funding are created through the API.
3. The load generator (`bench.api_load`) runs as a separate process with N keep-alive
   connections, one request in flight on each:
   - baseline: `GET /healthz` (no auth, no work): the ceiling of this HTTP stack on this machine;
   - payments (16 connections for latency, 64 for throughput): `POST /v1/payments` with an
     `Idempotency-Key`, each through authentication, tier
     limits, the risk decision (features, model, rules, reasons), the ledger commit (group
     commit, fsync) and the log (leaf + signed checkpoint), and the stored idempotent response.
     Targets (issue 6): at least 1,000 payments/s with p99 ≤ 35 ms;
   - batch: `POST /v1/transfers` with 8,190 transfers per request. Target: 20,000 transfers/s.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from bench.common import machine, percentile, stat_cpu_seconds
from clearline.kyc.specimens import specimen_documents

RESULTS = Path(__file__).parent / "results"
PYTHON = sys.executable
CLEARLINE = [str(Path(sys.executable).parent / "clearline")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def train_model(data_dir: Path, work: Path, people: int, days: int, console: Console) -> None:
    world = work / "world"
    started = time.perf_counter()
    subprocess.run(
        [
            *CLEARLINE,
            "simulate",
            "--out",
            str(world),
            "--seed",
            "11",
            "--people",
            str(people),
            "--days",
            str(days),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        [
            *CLEARLINE,
            "risk",
            "train",
            "--world",
            str(world),
            "--out",
            str(data_dir / "models" / "current"),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    console.print(
        f"model trained on a {people}-person, {days}-day world in "
        f"{time.perf_counter() - started:.1f} s"
    )


class Server:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.port = port
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [*CLEARLINE, "--data-dir", str(data_dir), "serve", "--port", str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        lines: list[str] = []
        deadline = time.monotonic() + 120
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("the server exited:\n" + "".join(lines))
            lines.append(line)
            if line.startswith("clk_"):
                self.key = line.strip()
                break
        else:
            raise RuntimeError("the server printed no admin key")
        url = f"http://127.0.0.1:{port}/healthz"
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("the server did not answer /healthz")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()


def setup(base: str, key: str, customers: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        wallets = []
        for index in range(customers):
            customer = client.post(
                "/v1/customers", json={"name": f"bench {index}", "tier": 1, "country": "KE"}
            ).json()
            for document in specimen_documents(customer["id"], "KE", 3):  # what tier 3 needs
                added = client.post(f"/v1/customers/{customer['id']}/documents", json=document)
                assert added.status_code == 201, added.text
            raised = client.patch(f"/v1/customers/{customer['id']}", json={"tier": 3})
            assert raised.status_code == 200, raised.text
            account = client.post(
                "/v1/accounts", json={"customer_id": customer["id"], "asset": "USD"}
            ).json()
            wallets.append(account["id"])
        omnibus = client.get("/v1/accounts", params={"limit": 1}).json()["data"][0]["id"]
        funding = [
            {
                "debit_account_id": omnibus,
                "credit_account_id": wallet,
                "amount": "1000000.00",
                "asset": "USD",
            }
            for wallet in wallets
        ]
        result = client.post("/v1/transfers", json={"transfers": funding}).json()
        assert result["failed"] == 0, result
    return {"wallets": wallets, "omnibus": omnibus}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (all its threads), from /proc."""
    return stat_cpu_seconds(Path(f"/proc/{pid}/stat"))


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds so far of each thread of process `pid`: "main" (the event loop) and the others
    by thread id (the writers)."""
    seconds: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            used = stat_cpu_seconds(task / "stat")
        except OSError:  # the thread ended
            continue
        name = "main" if task.name == str(pid) else f"thread {task.name}"
        seconds[name] = seconds.get(name, 0.0) + used
    return seconds


def load(spec: dict[str, Any], work: Path, server_pid: int) -> dict[str, Any]:
    spec_path, out_path = work / "spec.json", work / "out.json"
    spec_path.write_text(json.dumps(spec))
    loader = subprocess.Popen([PYTHON, "-m", "bench.api_load", str(spec_path), str(out_path)])
    time.sleep(spec["warmup"])
    threads_before, loader_before = thread_cpu_seconds(server_pid), cpu_seconds(loader.pid)
    cpu_before, wall_before = cpu_seconds(server_pid), time.perf_counter()
    time.sleep(spec["duration"])
    cpu_after, wall_after = cpu_seconds(server_pid), time.perf_counter()
    threads_after, loader_after = thread_cpu_seconds(server_pid), cpu_seconds(loader.pid)
    if loader.wait() != 0:
        raise RuntimeError("the load generator failed")
    result: dict[str, Any] = json.loads(out_path.read_text())
    latencies = result.pop("latencies")
    result["requests"] = len(latencies)
    result["per_second"] = result["events"] / result["seconds"]
    result["requests_per_second"] = len(latencies) / result["seconds"]
    result["p50_ms"] = percentile(latencies, 0.50) * 1000
    result["p99_ms"] = percentile(latencies, 0.99) * 1000
    result["server_cpu_share"] = (cpu_after - cpu_before) / (wall_after - wall_before)
    events = result["per_second"] * (wall_after - wall_before)
    result["loader_cpu_share"] = (loader_after - loader_before) / (wall_after - wall_before)
    result["thread_cpu_ms_per_event"] = {
        name: round((threads_after[name] - threads_before.get(name, 0.0)) * 1000 / events, 3)
        for name in threads_after
        if events and threads_after[name] - threads_before.get(name, 0.0) > 0
    }
    result["server_cpu_ms_per_event"] = (
        (cpu_after - cpu_before) * 1000 / (result["per_second"] * (wall_after - wall_before))
        if result["events"]
        else 0.0
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument(
        "--connections", type=int, default=64, help="connections of the throughput scenarios"
    )
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument(
        "--payments-only", action="store_true", help="only the payment scenarios (when tuning)"
    )
    args = parser.parse_args()
    console = Console(width=160)
    duration = 3.0 if args.quick else args.duration
    RESULTS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="clearline-bench-api-") as temporary:
        work = Path(temporary)
        data_dir = work / "data"
        data_dir.mkdir(mode=0o700)
        train_model(data_dir, work, 500 if args.quick else 1500, 14 if args.quick else 21, console)
        port = free_port()
        server = Server(data_dir, port)
        try:
            base = f"http://127.0.0.1:{port}"
            accounts = setup(base, server.key, 50 if args.quick else args.customers)
            common = {
                "host": "127.0.0.1",
                "port": port,
                "key": server.key,
                "seed": 7,
                "warmup": 1.0 if args.quick else 3.0,
                "duration": duration,
                **accounts,
            }
            scenarios: dict[str, dict[str, Any]] = {}
            if not args.payments_only:
                scenarios["baseline: GET /healthz"] = {
                    "method": "GET",
                    "path": "/healthz",
                    "body": None,
                    "run": "h",
                    "connections": args.connections,
                }
            for connections in (16, args.connections):
                scenarios[f"POST /v1/payments, {connections} connections"] = {
                    "method": "POST",
                    "path": "/v1/payments",
                    "body": "payment",
                    "run": f"p{connections}",
                    "connections": connections,
                }
            if not args.payments_only:
                scenarios["POST /v1/transfers (8,190 per request)"] = {
                    "method": "POST",
                    "path": "/v1/transfers",
                    "body": "transfers",
                    "run": "t",
                    "connections": 2,
                    "batch": 8190,
                    "warmup": 2.0,
                    "duration": max(duration, 10.0),
                }
            rows = {
                name: load({**common, **scenario}, work, server.process.pid)
                for name, scenario in scenarios.items()
            }
            metrics = httpx.get(
                f"{base}/metrics", headers={"Authorization": f"Bearer {server.key}"}
            ).text
        finally:
            server.stop()
    table = Table(title="Clearline API through HTTP (load generator in a separate process)")
    columns = (
        "scenario",
        "events/s",
        "requests/s",
        "p50 ms",
        "p99 ms",
        "server CPU ms/event",
        "server cores busy",
        "loader cores busy",
        "statuses",
    )
    for column in columns:
        table.add_column(column, justify="right" if column != "scenario" else "left")
    for name, row in rows.items():
        table.add_row(
            name,
            f"{row['per_second']:,.0f}",
            f"{row['requests_per_second']:,.0f}",
            f"{row['p50_ms']:.1f}",
            f"{row['p99_ms']:.1f}",
            f"{row['server_cpu_ms_per_event']:.3f}",
            f"{row['server_cpu_share']:.2f}",
            f"{row['loader_cpu_share']:.2f}",
            json.dumps(row["statuses"]),
        )
    console.print(table)
    payments = rows[f"POST /v1/payments, {args.connections} connections"]
    console.print(f"decisions: {payments['actions']}")
    for name, row in rows.items():
        console.print(f"server CPU ms/event by thread, {name}: {row['thread_cpu_ms_per_event']}")
    if payments["errors"]:
        console.print(f"errors (first): {payments['errors'][:2]}")
    ledger_lines = [
        line
        for line in metrics.splitlines()
        if line.startswith(("clearline_ledger", "clearline_log_size"))
    ]
    console.print("\n".join(ledger_lines))
    console.print(f"machine: {machine()}")
    document = {
        "machine": machine(),
        "connections": args.connections,
        "duration_s": duration,
        "scenarios": rows,
        "ledger": ledger_lines,
    }
    (RESULTS / "api.json").write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()

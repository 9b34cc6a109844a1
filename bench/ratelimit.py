"""Rate-limit benchmark: a key flooding past its limit cannot slow another key down.

Run: `python -m bench.ratelimit` (`--quick` for a short smoke run). Figures go to
bench/results/ratelimit.json; docs/benchmarks.md records them with the command and the machine.

What happens, all in this run, against one real `clearline serve` process:
1. baseline: a quiet analyst key reads `GET /v1/payments?limit=1` on a few keep-alive
   connections (one request in flight on each), alone;
2. under flood: the same quiet load, while a second load-generator process floods the same
   route with a customer key limited to 5 requests/s (`platform.toml`) on many connections:
   almost every flood request is refused with 429 before any work is done.
The quiet key's requests/s and latency are printed side by side; so are the flood's refusals per
second (what refusing costs the server) and the server's peak resident memory. The two load
generators are separate processes (`bench.api_load`), so neither shares the other's GIL.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from bench.api import Server, free_port
from bench.common import machine, percentile

RESULTS = Path(__file__).parent / "results"
PYTHON = sys.executable

SETTINGS = """\
[rate_limits.customer]
requests_per_s = 5
burst = 5

[rate_limits.analyst]
requests_per_s = 1000000
burst = 1000000
"""


def _spec(port: int, key: str, connections: int, warmup: float, duration: float) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": port,
        "key": key,
        "method": "GET",
        "path": "/v1/payments?limit=1",
        "body": None,
        "connections": connections,
        "warmup": warmup,
        "duration": duration,
        "seed": 1,
        "run": "ratelimit",
    }


def _start(spec: dict[str, Any], work: Path, name: str) -> tuple[subprocess.Popen[bytes], Path]:
    spec_path, out_path = work / f"{name}-spec.json", work / f"{name}-out.json"
    spec_path.write_text(json.dumps(spec))
    return subprocess.Popen(
        [PYTHON, "-m", "bench.api_load", str(spec_path), str(out_path)]
    ), out_path


def _finish(loader: subprocess.Popen[bytes], out_path: Path) -> dict[str, Any]:
    if loader.wait() != 0:
        raise RuntimeError("a load generator failed")
    result: dict[str, Any] = json.loads(out_path.read_text())
    latencies = result.pop("latencies")
    seconds = result["seconds"]
    return {
        "requests_per_second": len(latencies) / seconds,
        "ok_per_second": result["statuses"].get("200", 0) / seconds,
        "refused_per_second": result["statuses"].get("429", 0) / seconds,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "statuses": result["statuses"],
    }


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run(quick: bool, console: Console) -> dict[str, Any]:
    warmup, duration = (1.0, 3.0) if quick else (2.0, 10.0)
    quiet_connections, flood_connections = 4, 32
    with tempfile.TemporaryDirectory(prefix="clearline-bench-ratelimit-") as scratch:
        work = Path(scratch)
        data_dir = work / "data"
        data_dir.mkdir()
        (data_dir / "platform.toml").write_text(SETTINGS)
        server = Server(data_dir, free_port())
        try:
            base = f"http://127.0.0.1:{server.port}"
            admin = {"Authorization": f"Bearer {server.key}"}
            with httpx.Client(base_url=base, headers=admin, timeout=60) as client:
                customer = client.post("/v1/customers", json={"name": "flood", "tier": 1}).json()
                keys = {
                    role: client.post(
                        "/v1/keys",
                        json={"role": role, "label": f"bench {role}"}
                        | ({"customer_id": customer["id"]} if role == "customer" else {}),
                    ).json()["key"]
                    for role in ("analyst", "customer")
                }
            quiet = _spec(server.port, keys["analyst"], quiet_connections, warmup, duration)
            console.print(f"baseline: the quiet key alone, {quiet_connections} connections")
            alone = _finish(*_start(quiet, work, "alone"))
            console.print(f"under flood: {flood_connections} connections of a limited key beside")
            flood_spec = _spec(
                server.port, keys["customer"], flood_connections, warmup / 2, duration + warmup
            )
            flood_loader = _start(flood_spec, work, "flood")
            time.sleep(warmup / 2)
            beside = _finish(*_start(quiet, work, "beside"))
            flood = _finish(*flood_loader)
            server_rss = peak_rss_mib(server.process.pid)
        finally:
            server.stop()
    return {
        "machine": machine(),
        "quiet_alone": alone,
        "quiet_under_flood": beside,
        "flood": flood,
        "quiet_throughput_ratio": beside["requests_per_second"] / alone["requests_per_second"],
        "server_peak_rss_mib": round(server_rss),
        "bench_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def report(figures: dict[str, Any], console: Console) -> None:
    table = Table(title="a limited key flooding beside a quiet one")
    for column in ("", "quiet req/s", "quiet p50 ms", "quiet p99 ms", "flood 429/s", "flood 200/s"):
        table.add_column(column, justify="right")
    alone, beside, flood = figures["quiet_alone"], figures["quiet_under_flood"], figures["flood"]
    table.add_row(
        "baseline: quiet alone",
        f"{alone['requests_per_second']:,.0f}",
        f"{alone['p50_ms']:.2f}",
        f"{alone['p99_ms']:.2f}",
        "",
        "",
    )
    table.add_row(
        "quiet under flood",
        f"{beside['requests_per_second']:,.0f}",
        f"{beside['p50_ms']:.2f}",
        f"{beside['p99_ms']:.2f}",
        f"{flood['refused_per_second']:,.0f}",
        f"{flood['ok_per_second']:,.1f}",
    )
    console.print(table)
    console.print(
        f"quiet key keeps {figures['quiet_throughput_ratio']:.0%} of its throughput; "
        f"server peak RSS {figures['server_peak_rss_mib']} MiB, "
        f"bench peak RSS {figures['bench_peak_rss_mib']} MiB; {figures['machine']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="Example: python -m bench.ratelimit --quick",
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    arguments = parser.parse_args()
    console = Console()
    figures = run(arguments.quick, console)
    report(figures, console)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ratelimit.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

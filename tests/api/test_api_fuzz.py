"""Fuzzing from the OpenAPI spec with schemathesis against a live server (its own data directory)
with an admin key: a fixed, derandomized number of examples per operation, and no response may be
a server error (5xx)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

EXAMPLES_PER_OPERATION = 25


@pytest.fixture(scope="module")
def fuzzed_server(launch_api: Any) -> Any:
    api = launch_api()
    payer, payee = api.party("Fuzz payer"), api.party("Fuzz payee")
    api.pay(payer, payee, "1.00")
    api.pay(payer, payee, "150.00")
    api.pay(payer, payee, "2.00", capture="manual")
    return api


def fuzz_operation(operation: Any, api: Any, statuses: Counter[int]) -> None:
    """Run the operation's generated cases; a 5xx (or a non-problem error) fails."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        # the spec declares the Authorization header, so cases carry made-up ones: send the
        # admin key instead, so that generation reaches past authentication
        case.headers = {
            name: value
            for name, value in (case.headers or {}).items()
            if name.lower() != "authorization"
        }
        response = case.call(
            base_url=api.base_url,
            headers={"Authorization": f"Bearer {api.admin_key}"},
            timeout=60,
        )
        statuses[response.status_code] += 1
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} → {response.status_code}: "
            f"{response.text[:500]}\n{case.as_curl_command()}"
        )
        if response.status_code >= 400:
            content_type = response.headers.get("content-type", [""])
            content_type = content_type if isinstance(content_type, str) else content_type[0]
            assert content_type.startswith("application/problem+json"), (
                f"{case.method} {case.formatted_path} → {response.status_code} {content_type}"
            )

    run()


@pytest.mark.slow
def test_no_server_errors(fuzzed_server: Any) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzzed_server.base_url}/openapi.json", timeout=60)
    failures, operations, statuses = [], 0, Counter[int]()
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        try:
            fuzz_operation(operation, fuzzed_server, statuses)
        except AssertionError as error:  # keep fuzzing the other operations; report all
            failures.append(f"{operation.label}: {error}")
    assert operations >= 25
    assert not failures, "\n\n".join(failures)
    accepted = sum(count for status, count in statuses.items() if status < 300)
    assert accepted >= 100, f"too few cases got past validation and auth: {statuses}"
    assert statuses[401] == 0, statuses


SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.mark.slow
def test_schemathesis_all_checks(launch_api: Any) -> None:
    """`schemathesis run --checks all`, a fixed number of derandomized examples per operation,
    against a server of its own: every status and content type each operation answers is the
    one its OpenAPI document declares (defect 3), schema-violating requests are refused, auth
    is never ignored. The run's own summary is the failure message."""
    api = launch_api()
    api.party("Checks payer")
    result = subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(CONFIG),
            "run",
            f"{api.base_url}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            str(EXAMPLES_PER_OPERATION),
            "--generation-deterministic",
            "--no-shrink",
            "--request-timeout",
            "60",
            "--header",
            f"Authorization: Bearer {api.admin_key}",
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        cwd=api.data_dir.parent,
        env={**os.environ, "NO_COLOR": "1"},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "Authentication failed" not in output, output[-6000:]  # the key stayed valid
    tested = int(output.split("Tested:")[1].split()[0]) if "Tested:" in output else 0
    assert tested >= 25, output[-2000:]

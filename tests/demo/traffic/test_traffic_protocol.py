"""What the demo and its traffic process say to each other: options and messages as JSON lines."""

from __future__ import annotations

from pathlib import Path

from clearline.demo.traffic.protocol import TrafficOptions, decode, encode


def test_options_travel_as_one_line_and_come_back_equal() -> None:
    options = TrafficOptions(
        "http://127.0.0.1:1", "clk_secret", Path("/tmp/w"), 6, None, 10, 2.5, 8
    )
    line = options.to_json()
    assert "\n" not in line
    assert TrafficOptions.from_json(line) == options


def test_a_message_is_one_line_and_decodes_to_itself() -> None:
    message = {"event": "progress", "done": 3, "latency_ms_p99": None}
    line = encode(message)
    assert line.endswith("\n") and line.count("\n") == 1
    assert decode(line) == message


def test_a_line_that_is_not_a_message_becomes_an_error_message() -> None:
    assert decode("Traceback (most recent call last):\n")["event"] == "error"
    assert decode("[1, 2]\n")["event"] == "error"

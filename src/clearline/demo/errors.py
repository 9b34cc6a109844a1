"""The demo's typed errors: each says which stage could not go on, with a stable `code`.

They are `RuntimeError`s as well as `ClearlineError`s: the demo stops on them (cleanly, with the
traffic stopped, the server stopped and the ledger closed), and nothing is changed by retrying.
"""

from __future__ import annotations

from clearline.core.errors import ClearlineError


class DemoError(ClearlineError, RuntimeError):
    """Base of the demo's errors."""

    code = "demo_failed"


class DemoNeedsTwoDays(DemoError, ValueError):
    """A world of fewer than two days has no history before its live traffic."""

    code = "demo_needs_two_days"


class SetupRequestRefused(DemoError):
    """The server refused a setup request (customer, wallet or funding); setup cannot go on."""

    code = "setup_request_refused"


class TrafficFailed(DemoError):
    """The traffic process reported an error, exited early, or sent nothing in time."""

    code = "traffic_failed"


class ServerDidNotStart(DemoError):
    """The API server thread ended or did not answer before its start deadline."""

    code = "server_did_not_start"

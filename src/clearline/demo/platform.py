"""The demo's one seam onto the platform: everything `clearline demo` needs from the payments
service and the HTTP API goes through `open_platform` and the `DemoPlatform` it returns.

Nothing else in `clearline.demo` imports the payments service, the API or the key store, so the
platform's composition can change behind this module alone. What the demo needs, and no more:
- `app`: the ASGI application to serve (the demo serves it itself, `clearline.demo.server`);
- `admin_key`: a key to print for the newcomer ("" when the directory already had keys);
- `traffic_key`: an operator key for the traffic process;
- `risk_files`: where the platform reads its model and feature state, and how it numbers device
  ids, so the demo can warm and install them (`clearline.demo.history`);
- `reload_risk()`: read the model and feature state just written; `close()`: close everything.

Guarantees:
- The platform runs on the given `clock` (the world's clock in the demo) and checks limits with
  the world's first-day exchange rates (`clearline.demo.world.reference_rates`).
- If opening fails part way, what was opened is closed before the error propagates.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from starlette.types import ASGIApp

from clearline.api.app import create_app
from clearline.core.clock import Clock
from clearline.demo.history import RiskFiles
from clearline.demo.world import reference_rates
from clearline.payments.risk_gate import MODEL_DIRECTORY, STATE_FILE
from clearline.payments.service import device_number
from clearline.platform import Platform
from clearline.trail import SYSTEM


@dataclass(frozen=True, slots=True)
class DemoPlatform:
    """An open platform as the demo uses it (see the module docstring for each field)."""

    app: ASGIApp
    admin_key: str
    traffic_key: str
    risk_files: RiskFiles
    _platform: Platform

    def reload_risk(self) -> None:
        self._platform.reload_risk()

    def close(self) -> None:
        self._platform.close()


def open_platform(run_dir: Path, clock: Clock, world_dir: Path) -> DemoPlatform:
    """A fresh platform in `run_dir` on `clock`, with the limits priced at `world_dir`'s rates."""
    quiet = logging.getLogger("clearline.payments.risk_gate")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # "no model yet": true for a moment, the demo installs one next
    try:
        platform = Platform.open(run_dir, clock=clock, rates=reference_rates(world_dir))
    finally:
        quiet.setLevel(level)
    try:
        admin_key = platform.first_admin_key() or ""
        traffic_key, _ = platform.keys.create("operator", label="demo traffic", actor=SYSTEM)
        app = create_app(platform)
    except BaseException:
        platform.close()
        raise
    risk_files = RiskFiles(run_dir / MODEL_DIRECTORY, run_dir / STATE_FILE, device_number)
    return DemoPlatform(app, admin_key, traffic_key, risk_files, platform)

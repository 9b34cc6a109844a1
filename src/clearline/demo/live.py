"""`clearline demo` (what `make run` runs): a simulated world's later days as live traffic through
the HTTP API, decided by a fraud model trained on six months of another simulated world, with the
feature state warmed by the world's earlier days, on a live dashboard; then the API stays up
until Ctrl-C, so there is time to look at it.

Stages: generate the world, and the training world and its model (`clearline.demo.world`), each
cached per size and seed under DATA/demo/ → open a fresh platform in DATA/demo/run-<UTC time>/
(`clearline.demo.platform`, the demo's only seam onto the platform) and serve the API in this
process → a separate process (`python -m clearline.demo.traffic`) sets the world's customers,
wallets and balances up through HTTP and waits → the history days are replayed with the
platform's account ids to warm the feature state, and the model is installed
(`clearline.demo.history`; with `training_days=0` it is trained on that replay instead) → the
traffic process replays the later days through `POST /v1/payments` while the dashboard shows what
it measures → the figures are printed and the API keeps serving (with its docs and the admin key
printed again) until Ctrl-C; `exit_after_replay` stops it there instead.

Guarantees:
- Every number on the dashboard is measured: counts of HTTP answers joined with the world's labels
  (`clearline.demo.traffic.tally`), latencies timed by the client, the checkpoint read from
  `GET /v1/checkpoints/latest`.
- The model never sees the replayed days: it is trained on another world (a different seed),
  or, with `training_days=0`, on the days before the replay.
- The platform runs on the world's clock: the server's clock is the time of the payment the
  traffic process most recently sent (`clearline.demo.traffic.clock`, a file both map), so
  velocity features, daily limits and review timeouts see the world's hours and days, not the
  minute the replay takes. With `concurrency` payments in flight a payment is stamped at most
  that many payments late.
- Ctrl-C (or SIGTERM), whenever it comes after the platform opened, stops the traffic first, then
  the server (requests in flight finish), then closes the ledger; further signals are held until
  that is done. The run directory is then accepted by `clearline audit export` and
  `clearline audit verify`.
- Nothing is reused between runs but the world and the model, and nothing is overwritten: each
  run has its own platform directory, so a second `make run` starts clean beside the first.
"""

from __future__ import annotations

import contextlib
import gc
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from rich.console import Console
from rich.live import Live
from rich.panel import Panel
from rich.text import Text

from clearline.demo.dashboard import (
    View,
    audit_commands,
    latest_checkpoint,
    measured_table,
    plot,
    render,
)
from clearline.demo.errors import DemoNeedsTwoDays, TrafficFailed
from clearline.demo.history import train_on_history
from clearline.demo.options import LiveDemoOptions, LiveDemoResult
from clearline.demo.platform import DemoPlatform, open_platform
from clearline.demo.server import ServerThread
from clearline.demo.traffic.clock import SharedClock
from clearline.demo.traffic.plan import DAY_NS, world_start_ns
from clearline.demo.traffic.process import TrafficProcess
from clearline.demo.traffic.protocol import TrafficOptions
from clearline.demo.world import ensure_model, ensure_world

CLOCK_FILE = "demo-clock.i64"
"""The shared world clock, in the run directory while the demo runs (removed at the end)."""
CHECKPOINT_EVERY_S = 1.0
SETUP_WAIT_S = 600.0
MESSAGE_WAIT_S = 0.25
REFRESH_PER_S = 4


@dataclass(slots=True)
class _Session:
    """One run's moving parts, handed between the stages."""

    options: LiveDemoOptions
    world_dir: Path
    history_days: int
    start_ns: int
    platform: DemoPlatform
    clock_file: Path
    header: str
    console: Console
    result: LiveDemoResult
    trained: Path | None = None


def run_live_demo(data_dir: Path, options: LiveDemoOptions, console: Console) -> LiveDemoResult:
    """The live demo; returns once it stopped cleanly: after the replay with
    `exit_after_replay`, else on Ctrl-C (or SIGTERM), during the replay or while serving."""
    if options.days < 2:
        raise DemoNeedsTwoDays("the demo needs at least 2 days: history, then live traffic")
    world_dir = ensure_world(Path(data_dir), options, console)
    trained = ensure_model(Path(data_dir), options, console)
    history_days = options.history()
    start_ns = world_start_ns(world_dir) + history_days * DAY_NS
    run_dir = _run_dir(Path(data_dir))
    result = LiveDemoResult(run_dir, "")
    clock = SharedClock.create(run_dir / CLOCK_FILE, start_ns)
    platform: DemoPlatform | None = None
    server: ServerThread | None = None
    how = "stopped by Ctrl-C"
    with _sigterm_as_interrupt():
        try:
            platform = open_platform(run_dir, clock, world_dir)
            server = ServerThread(platform.app, options.host, options.port)
            result.url = f"http://{options.host}:{server.port}"
            session = _Session(
                options,
                world_dir,
                history_days,
                start_ns,
                platform,
                clock.path,
                _header(result, platform),
                console,
                result,
                trained,
            )
            server.start()
            how = _run(session, server)
        except KeyboardInterrupt:
            result.interrupted = True
        finally:
            with _signals_held():
                if server is not None:
                    server.stop()
                if platform is not None:
                    platform.close()
                clock.close()
                clock.path.unlink(missing_ok=True)
    console.print(f"\n[bold]{how}[/bold]; server stopped, ledger closed.")
    console.print(audit_commands(run_dir))
    return result


def _header(result: LiveDemoResult, platform: DemoPlatform) -> str:
    return (
        f"API  {result.url}   docs  {result.url}/docs\nadmin key  {platform.admin_key}\n"
        f"data directory  {result.run_dir}"
    )


def _run(session: _Session, server: ServerThread) -> str:
    """Replay, show what was measured, then serve until Ctrl-C; how the run ended."""
    console, result = session.console, session.result
    console.print(Panel(session.header, title="Clearline is serving"))
    try:
        _drive(session)
    except KeyboardInterrupt:
        result.interrupted = True
    _show_measured(result, console)
    if result.interrupted:
        return "stopped by Ctrl-C"
    if session.options.exit_after_replay:
        return "replay finished"
    console.print(
        Text(
            f"replay done: the API at {result.url} and /docs at {result.url}/docs stay up; "
            f"admin key {session.platform.admin_key}; press Ctrl-C to stop",
            style="bold green",
        ),
        soft_wrap=True,
    )
    try:
        server.wait()
    except KeyboardInterrupt:
        return "replay finished, then stopped by Ctrl-C"
    return "replay finished, then the API server stopped by itself"


def _show_measured(result: LiveDemoResult, console: Console) -> None:
    table = measured_table(result)
    if table is not None:
        console.print()
        console.print(table)
    if result.plot is not None:
        console.print(f"plot: {result.plot}")


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops the demo like Ctrl-C does (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM are ignored while the demo shuts down (main thread only), so a second
    Ctrl-C cannot cut the ledger's close short; every step of the shutdown is bounded."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, signal.SIG_IGN) for number in _STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _run_dir(data_dir: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    base = data_dir / "demo" / f"run-{stamp}"
    candidate, number = base, 1
    while candidate.exists():
        number += 1
        candidate = base.with_name(f"{base.name}-{number}")
    candidate.mkdir(parents=True, mode=0o700)
    return candidate


def _drive(session: _Session) -> None:
    """Set up, train, replay; the traffic process is stopped and joined whatever happens."""
    options, result, platform = session.options, session.result, session.platform
    traffic_options = TrafficOptions(
        result.url,
        platform.traffic_key,
        session.world_dir,
        session.history_days,
        options.replay_days,
        options.payments,
        options.rate,
        options.concurrency,
    )
    traffic = TrafficProcess.start(traffic_options, session.clock_file)
    view = View()
    try:
        _set_up_and_train(traffic, session)
        traffic.go()
        _replay(traffic, view, session)
    finally:
        with _signals_held():
            final = traffic.finish()
        if final is not None:
            result.final = final
        result.plot = plot(view, result.run_dir) if options.plot and view.series else None


def _set_up_and_train(traffic: TrafficProcess, session: _Session) -> None:
    console, result = session.console, session.result
    with console.status("setting the world up through the API (customers, wallets, balances)…"):
        setup = _wait_for(traffic, "setup")
    mapping = {int(world): int(platform, 16) for world, platform in setup.pop("mapping").items()}
    result.setup = setup
    console.print(
        f"setup: {setup['accounts']:,} customers and wallets, {setup['funded']:,} funded, "
        f"through HTTP in {setup['seconds']:.1f} s"
    )
    doing = (
        "warming the feature state with the history days…"
        if session.trained
        else "training the fraud model on the history days…"
    )
    with console.status(doing):
        started = time.perf_counter()
        trained = train_on_history(
            session.world_dir,
            session.start_ns,
            mapping,
            session.platform.risk_files,
            session.trained,
        )
        session.platform.reload_risk()  # the model and the warm feature state just written
        gc.collect()  # as `clearline serve` does: what lives for the whole run leaves the
        gc.freeze()  # cyclic collector's full passes (see api/server.py)
    result.model_version = trained["model_version"]
    console.print(_model_line(trained, time.perf_counter() - started, session.trained is not None))


def _model_line(trained: dict[str, Any], seconds: float, elsewhere: bool) -> str:
    if elsewhere:
        frauds = trained["training"].get("positives")
        return (
            f"model {trained['model_version']}: trained on {trained['trained_on']}"
            + (f" ({frauds:,} labelled fraud in its training slice)" if frauds else "")
            + f", PR-AUC {trained['test']['pr_auc']:.3f} on its held-out test slice; feature "
            f"state warmed with this world's {trained['payments']:,} history payments in "
            f"{seconds:.1f} s"
        )
    return (
        f"model {trained['model_version']}: trained on {trained['payments']:,} history "
        f"payments ({trained['fraud']:,} labelled fraud) in {seconds:.1f} s; feature state "
        "warmed with the same history"
    )


def _wait_for(traffic: TrafficProcess, wanted: str) -> dict[str, Any]:
    deadline = time.monotonic() + SETUP_WAIT_S
    while time.monotonic() < deadline:
        for message in traffic.messages(MESSAGE_WAIT_S):
            if message.get("event") == wanted:
                return message
            if message.get("event") == "error":
                raise TrafficFailed(f"traffic process failed: {message['message']}")
        if traffic.ended:
            raise TrafficFailed(f"traffic process exited (code {traffic.exit_code})")
    raise TrafficFailed(f"traffic process sent no {wanted!r} in {SETUP_WAIT_S:.0f} s")


def _replay(traffic: TrafficProcess, view: View, session: _Session) -> None:
    header, result = session.header, session.result
    auth = {"Authorization": f"Bearer {session.platform.admin_key}"}
    view.phase = "replaying the later days as live traffic (Ctrl-C stops cleanly)"
    checked = 0.0
    with (
        httpx.Client(base_url=result.url, headers=auth) as client,
        Live(
            render(view, header), console=session.console, refresh_per_second=REFRESH_PER_S
        ) as live,
    ):
        try:
            while not result.final:
                for message in traffic.messages(MESSAGE_WAIT_S):
                    event = message.get("event")
                    if event in ("progress", "done"):
                        view.update(message)
                    if event == "error":
                        raise TrafficFailed(f"traffic process failed: {message['message']}")
                    if event == "done":
                        result.final = message
                        view.phase = "every payment answered"
                if time.monotonic() - checked >= CHECKPOINT_EVERY_S or result.final:
                    view.checkpoint, checked = latest_checkpoint(client), time.monotonic()
                live.update(render(view, header))
                if not result.final and traffic.ended:
                    raise TrafficFailed(f"traffic process exited (code {traffic.exit_code})")
        except KeyboardInterrupt:
            view.phase = "stopping: traffic first, then the server, then the ledger"
            live.update(render(view, header))
            raise
        finally:
            result.checkpoint = view.checkpoint

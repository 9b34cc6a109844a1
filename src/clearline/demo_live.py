"""`clearline demo` (what `make run` runs): a simulated world's later days as live traffic through
the HTTP API, decided by a fraud model trained on six months of another simulated world, with the
feature state warmed by the world's earlier days, on a live dashboard.

Stages: generate the world, and the training world and its model (`train_world`), each cached per
size and seed under DATA/demo/ → open a fresh platform in DATA/demo/run-<UTC time>/ and serve the
API in this process → a separate process sets the world's customers, wallets and balances up
through HTTP and waits → the history days are replayed with the platform's account ids to warm the
feature state, and the model is installed (with `training_days=0` it is trained on that replay
instead) → the traffic process replays the later days through `POST /v1/payments` while the
dashboard shows what it measures. Ctrl-C (or SIGTERM) stops the traffic, then the server, then
closes the ledger; the run directory is then accepted by `clearline audit export` and
`clearline audit verify`.

Guarantees:
- Every number on the dashboard is measured: counts of HTTP answers joined with the world's labels
  (`clearline.traffic.Tally`), latencies timed by the client, the checkpoint read from
  `GET /v1/checkpoints/latest`.
- The model never sees the replayed days: it is trained on another world (a different seed),
  or, with `training_days=0`, on the days before the replay.
- The platform runs on the world's clock: the server's clock is the time of the payment the
  traffic process most recently sent (a shared value), so velocity features, daily limits and
  review timeouts see the world's hours and days, not the minute the replay takes. With
  `concurrency` payments in flight a payment is stamped at most that many payments late.
- Nothing is reused between runs but the world and nothing is overwritten: each run has its own
  platform directory, so a second `make run` starts clean beside the first.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import multiprocessing
import queue as queues
import shutil
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table

from clearline.core.errors import ClearlineError
from clearline.traffic import DAY_NS, TrafficOptions, child_main, world_start_ns

WORLD_TABLES = ("transactions", "labels", "accounts", "people", "fx_rates")
CHECKPOINT_EVERY_S = 1.0
STOP_WAIT_S = 20.0
SERVER_START_WAIT_S = 30.0
SETUP_WAIT_S = 600.0
TRAINING_SEED = 1


@dataclass(frozen=True, slots=True)
class LiveDemoOptions:
    """people, days, seed: the world. history_days: the days before the replay (default: the
    first two thirds); they warm the feature state, and the rest is replayed, at most
    `replay_days` of it and at most `payments` payments. training_people, training_days: the
    separate simulated world the model learns from (`training_world_seed`; trained once through
    `clearline.risk.pipeline.train_world`, the protocol of docs/risk.md, and cached under
    DATA/demo/); training_days 0 trains on the history days of the demo's own world instead.
    rate: payments per second (0: as fast as the server answers). concurrency: requests in flight.
    host, port: where the API listens (port 0: a free port)."""

    people: int = 2_000
    days: int = 30
    seed: int = 7
    training_people: int = 5_000
    training_days: int = 180
    history_days: int | None = None
    replay_days: int | None = None
    payments: int | None = None
    rate: float = 0.0
    concurrency: int = 32
    host: str = "127.0.0.1"
    port: int = 0
    plot: bool = True

    def training_world_seed(self) -> int:
        """Seed 1, as in docs/risk.md, unless the demo world itself has seed 1: then 2, so the
        model never learns from the days it is shown."""
        return 2 if self.seed == TRAINING_SEED else TRAINING_SEED

    def history(self) -> int:
        chosen = self.history_days if self.history_days is not None else (self.days * 2) // 3
        return min(max(chosen, 1), self.days - 1)


@dataclass(slots=True)
class LiveDemoResult:
    """What a run left: its platform directory, its final tally, whether Ctrl-C stopped it."""

    run_dir: Path
    url: str
    final: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False
    setup: dict[str, Any] = field(default_factory=dict)
    model_version: str = ""
    plot: Path | None = None
    checkpoint: dict[str, Any] = field(default_factory=dict)


class SharedClock:
    """The platform's clock in the demo: the world time the traffic process has reached."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def now_ns(self) -> int:
        return int(self.value.value)


# -- the world and the model ----------------------------------------------------------------------


def ensure_world(data_dir: Path, options: LiveDemoOptions, console: Console) -> Path:
    """The world for these options, generated once and reused by later runs."""
    return _world(data_dir, options.people, options.days, options.seed, console, "world")


def _world(data_dir: Path, people: int, days: int, seed: int, console: Console, what: str) -> Path:
    directory = data_dir / "demo" / f"world-{people}p-{days}d-seed{seed}"
    if (directory / "manifest.json").exists():
        console.print(f"{what}: reusing {directory}")
        return directory
    from clearline.sim import World, preset, write_world

    with console.status(f"simulating {people:,} people for {days} days…"):
        started = time.perf_counter()
        write_world(World(preset("hi", people=people, days=days, seed=seed)).generate(), directory)
    console.print(f"{what}: {directory} ({time.perf_counter() - started:.1f} s)")
    return directory


def ensure_model(data_dir: Path, options: LiveDemoOptions, console: Console) -> Path | None:
    """The model trained on the separate training world (None when `training_days` is 0),
    trained once by `train_world` and reused while its features are the current ones."""
    if options.training_days == 0:
        return None
    from clearline.risk.features import FEATURE_NAMES
    from clearline.risk.pipeline import train_world
    from clearline.risk.registry import load_model

    people, days = options.training_people, options.training_days
    seed = options.training_world_seed()
    directory = data_dir / "demo" / f"model-{people}p-{days}d-seed{seed}"
    if (directory / "metrics.json").exists():
        try:
            if load_model(directory).feature_names == FEATURE_NAMES:
                console.print(f"model: reusing {directory}")
                return directory
        except ClearlineError:
            pass  # written by another version: train it again
    world = _world(data_dir, people, days, seed, console, "training world")
    what = f"training the fraud model on {days} days of {people:,} people (first run only)"
    steps = {
        "features": "replaying the payments through the features",
        "fitting": "fitting LightGBM",
        "reports": "writing metrics, model card and plots",
    }
    with console.status(what + "…") as status:
        started = time.perf_counter()

        def show(stage: str, done: int, total: int) -> None:
            elapsed = time.perf_counter() - started
            count = f", {done:,} of {total:,} payments" if total else ""
            status.update(f"{what}: {steps.get(stage, stage)}{count} ({elapsed:.0f} s so far)…")

        temporary = directory.with_name(directory.name + ".partial")
        shutil.rmtree(temporary, ignore_errors=True)
        train_world(world, temporary, on_stage=show)
        shutil.rmtree(directory, ignore_errors=True)
        temporary.replace(directory)
    console.print(f"model: {directory} ({time.perf_counter() - started:.1f} s)")
    return directory


def reference_rates(world_dir: Path) -> Any:
    """Limit-check rates: the defaults, with the world's first-day mid rates for its assets."""
    from clearline.kyc import ReferenceRates
    from clearline.kyc.limits import DEFAULT_UNITS_PER_USD

    rates = pq.read_table(world_dir / "fx_rates.parquet").to_pandas()
    first = rates[rates["date"] == rates["date"].min()]
    units = dict(DEFAULT_UNITS_PER_USD)
    for row in first.itertuples():
        units[str(row.asset)] = Decimal(repr(float(row.units_per_usd_mid)))
    return ReferenceRates(units)


def _history_tables(world_dir: Path, start_ns: int) -> dict[str, pa.Table]:
    tables = {name: pq.read_table(world_dir / f"{name}.parquet") for name in WORLD_TABLES}
    stamps = tables["transactions"].column("timestamp").cast(pa.int64()).to_numpy()
    keep = pa.array(np.asarray(stamps) < start_ns)
    tables["transactions"] = tables["transactions"].filter(keep)
    tables["labels"] = tables["labels"].filter(keep)
    return tables


def train_on_history(
    world_dir: Path,
    start_ns: int,
    mapping: dict[int, int],
    run_dir: Path,
    trained: Path | None = None,
) -> dict[str, Any]:
    """Warm the feature state with the days before `start_ns` and install it with a model:
    `trained` (a model directory, copied in) or, when None, one trained on those days.

    The history is replayed with the platform's account ids (and device ids as the payment
    endpoint derives them), so the replay leaves the feature state the server continues from
    (`DATA/risk_state.pickle`), and, without `trained`, also makes the training matrix. Ids
    enter features only through equality and profile look-up, so a model trained on other ids
    (the world's own, or another world's) scores these the same way."""
    from clearline.payments.risk_gate import MODEL_DIRECTORY, STATE_FILE
    from clearline.payments.service import device_number
    from clearline.risk.drift import build_reference, save_reference
    from clearline.risk.features import (
        FEATURE_NAMES,
        FeatureContext,
        FeatureState,
        events_from_table,
        replay,
    )
    from clearline.risk.metrics import evaluate_scores
    from clearline.risk.model import TrainConfig, fit, time_split, training_summary
    from clearline.risk.registry import save_model
    from clearline.risk.report import model_card, write_metrics
    from clearline.risk.world import world_from_tables

    world = world_from_tables(_history_tables(world_dir, start_ns))
    context = FeatureContext(
        {mapping.get(key, key): profile for key, profile in world.context.profiles.items()},
        world.context.reference_ns,
        world.context.usd_per_unit,
    )
    events = (
        event._replace(
            from_account_id=mapping.get(event.from_account_id, event.from_account_id),
            to_account_id=mapping.get(event.to_account_id, event.to_account_id),
            device_id=None if event.device_id is None else device_number(str(event.device_id)),
        )
        for event in events_from_table(world.transactions)
    )
    state = FeatureState(context)
    features = replay(events, context, state=state)
    stamps = np.asarray(world.transactions.column("timestamp").cast(pa.int64()).to_numpy())
    if trained is not None:
        shutil.copytree(trained, run_dir / MODEL_DIRECTORY)
        state.snapshot(run_dir / STATE_FILE)
        metrics = json.loads((trained / "metrics.json").read_text(encoding="utf-8"))
        return {
            "model_version": metrics["model_version"],
            "payments": len(stamps),
            "fraud": int(world.is_fraud.sum()),
            "test": metrics["test"],
            "trained_on": trained.name,
            "training": metrics.get("training", {}),
        }
    config = TrainConfig()
    split = time_split(stamps, config)
    model = fit(features, world.is_fraud, split, FEATURE_NAMES, (), config)  # as risk.pipeline
    out = run_dir / MODEL_DIRECTORY
    save_model(model, out)
    train_rows = features[split.train]
    save_reference(build_reference(FEATURE_NAMES, train_rows, model.score(train_rows)), out)
    metrics = {
        "model_version": model.version_,
        "trained_on": "demo history days",
        "training": training_summary(world.is_fraud, split),
        **{
            name: evaluate_scores(
                world.is_fraud[rows],
                model.score(features[rows]),
                model.review_threshold_,
                world.scenario[rows],
            )
            for name, rows in (("validation", split.validation), ("test", split.test))
        },
    }
    write_metrics(out, metrics)
    (out / "model_card.md").write_text(
        model_card(model.version_, model.params, metrics), encoding="utf-8"
    )
    state.snapshot(run_dir / STATE_FILE)
    return {
        "model_version": model.version_,
        "payments": len(stamps),
        "fraud": int(world.is_fraud.sum()),
        "test": metrics["test"],
    }


# -- the server, in this process ------------------------------------------------------------------


class ServerThread:
    """uvicorn serving `app` on a bound socket in a background thread."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        import uvicorn

        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, port))
        self.port = int(self.socket.getsockname()[1])
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=10
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, name="api", daemon=True
        )

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + SERVER_START_WAIT_S
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the API server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=STOP_WAIT_S)
        self.socket.close()


# -- the dashboard --------------------------------------------------------------------------------


@dataclass(slots=True)
class View:
    """What the dashboard shows: the last progress report, the checkpoint and a short history."""

    phase: str = "starting"
    progress: dict[str, Any] = field(default_factory=dict)
    checkpoint: dict[str, Any] = field(default_factory=dict)
    series: list[tuple[float, int, float | None]] = field(default_factory=list)
    window: list[tuple[float, int]] = field(default_factory=list)

    def update(self, message: dict[str, Any]) -> None:
        self.progress = message
        now, done = time.monotonic(), int(message["done"])
        self.window = [*self.window[-20:], (now, done)]
        self.series.append((float(message["elapsed_s"]), done, message["latency_ms_p99"]))

    def current_rate(self) -> float:
        """Payments answered per second over the last ~5 s of reports."""
        recent = [point for point in self.window if point[0] >= self.window[-1][0] - 5.0]
        if len(recent) < 2 or recent[-1][0] == recent[0][0]:
            return 0.0
        return (recent[-1][1] - recent[0][1]) / (recent[-1][0] - recent[0][0])


def _share(part: int, whole: int) -> str:
    return f"{part:,}  ({part / whole:.1%})" if whole else f"{part:,}"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} ms"


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def render(view: View, header: str) -> RenderableType:
    p = view.progress
    table = Table(show_header=False, box=None, padding=(0, 1))
    for style, justify in (("bold", "left"), ("", "right")) * 2:
        table.add_column(style=style, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    if not p:
        return Panel(Group(header, f"\n{view.phase}"), title="Clearline live demo")
    decided = p["approve"] + p["review"] + p["decline"]
    refused = sum(p["refused"].values())
    sim_time = datetime.fromtimestamp(p["sim_time_ns"] / 1e9, UTC).strftime("%b %d %H:%M")
    point = view.checkpoint
    rows = [
        ("payments", f"{p['done']:,} / {p['total']:,}", "world time", sim_time),
        (
            "payments/s",
            f"{view.current_rate():,.0f} · avg {p['payments_per_s']:,.0f}",
            "p50 · p99",
            f"{_number(p['latency_ms_p50'])} · {_ms(p['latency_ms_p99'])}",
        ),
        ("approve", _share(p["approve"], decided), "labelled fraud", f"{p['fraud_seen']:,}"),
        (
            "review",
            _share(p["review"], decided),
            "  caught",
            _share(p["fraud_caught"], p["fraud_seen"]),
        ),
        (
            "decline",
            _share(p["decline"], decided),
            "  missed",
            _share(p["fraud_missed"], p["fraud_seen"]),
        ),
        (
            "limits refused",
            f"{refused:,}",
            "  by limits",
            _share(p["fraud_refused"], p["fraud_seen"]),
        ),
        (
            "ledger refused",
            f"{p['failed']:,}",
            "false alarms",
            _share(p["false_alarms"], p["honest_decided"]),
        ),
        (
            "errors",
            f"{p['errors']:,}",
            "checkpoint",
            f"{point.get('size', 0):,} · {str(point.get('root_hash', ''))[:8]}" if point else "–",
        ),
    ]
    for row in rows:
        table.add_row(*row)
    return Panel(Group(header, "", table, f"\n{view.phase}"), title="Clearline live demo")


def _checkpoint(client: httpx.Client) -> dict[str, Any]:
    try:
        response = client.get("/v1/checkpoints/latest")
    except httpx.HTTPError:
        return {}
    if response.status_code != 200:
        return {}
    data: dict[str, Any] = response.json()
    return data


# -- running it -----------------------------------------------------------------------------------


def _drain(channel: Any, timeout_s: float) -> Iterator[dict[str, Any]]:
    """Messages from the traffic process: wait up to `timeout_s` for the first, then take all."""
    try:
        yield channel.get(timeout=timeout_s)
        while True:
            yield channel.get_nowait()
    except queues.Empty:
        return


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops the demo like Ctrl-C does (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_dir(data_dir: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    base = data_dir / "demo" / f"run-{stamp}"
    candidate, number = base, 1
    while candidate.exists():
        number += 1
        candidate = base.with_name(f"{base.name}-{number}")
    candidate.mkdir(parents=True, mode=0o700)
    return candidate


@dataclass(slots=True)
class _Session:
    """One run's moving parts, handed between the stages."""

    options: LiveDemoOptions
    world_dir: Path
    history_days: int
    start_ns: int
    service: Any
    url: str
    admin_key: str
    traffic_key: str
    header: str
    context: Any
    clock_value: Any
    console: Console
    result: LiveDemoResult
    trained: Path | None = None


def _open_service(run_dir: Path, clock: SharedClock) -> Any:
    from clearline.payments.service import PaymentService

    quiet = logging.getLogger("clearline.payments.risk_gate")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # "no model yet": true for a moment, the demo trains one next
    try:
        return PaymentService.open(run_dir, clock=clock)
    finally:
        quiet.setLevel(level)


def run_live_demo(data_dir: Path, options: LiveDemoOptions, console: Console) -> LiveDemoResult:
    """The live demo; returns when the replay is done or Ctrl-C stopped it (both cleanly)."""
    from clearline.api.app import create_app
    from clearline.api.keys import KeyStore
    from clearline.api.server import first_admin_key

    if options.days < 2:
        raise ValueError("the demo needs at least 2 days: history, then live traffic")
    world_dir = ensure_world(Path(data_dir), options, console)
    trained = ensure_model(Path(data_dir), options, console)
    history_days = options.history()
    start_ns = world_start_ns(world_dir) + history_days * DAY_NS
    run_dir = _run_dir(Path(data_dir))
    context = multiprocessing.get_context("spawn")
    clock_value = context.RawValue("q", start_ns)
    service = _open_service(run_dir, SharedClock(clock_value))
    service.rates = reference_rates(world_dir)
    admin_key = first_admin_key(service) or ""
    traffic_key, _ = KeyStore(service.store).create("operator", label="demo traffic")
    server = ServerThread(create_app(service), options.host, options.port)
    url = f"http://{options.host}:{server.port}"
    result = LiveDemoResult(run_dir, url)
    header = f"API  {url}   docs  {url}/docs\nadmin key  {admin_key}\ndata directory  {run_dir}"
    session = _Session(
        options,
        world_dir,
        history_days,
        start_ns,
        service,
        url,
        admin_key,
        traffic_key,
        header,
        context,
        clock_value,
        console,
        result,
        trained,
    )
    try:
        server.start()
        console.print(Panel(header, title="Clearline is serving"))
        with _sigterm_as_interrupt():
            try:
                _drive(session)
            except KeyboardInterrupt:
                result.interrupted = True
    finally:
        server.stop()
        service.close()
    _summary(result, console)
    return result


def _drive(session: _Session) -> None:
    """Set up, train, replay; the traffic process is stopped and joined whatever happens."""
    options, result = session.options, session.result
    channel, stop, go = session.context.Queue(), session.context.Event(), session.context.Event()
    traffic = TrafficOptions(
        session.url,
        session.traffic_key,
        session.world_dir,
        session.history_days,
        options.replay_days,
        options.payments,
        options.rate,
        options.concurrency,
    )
    child = session.context.Process(
        target=child_main, args=(traffic, channel, stop, go, session.clock_value), name="traffic"
    )
    child.start()
    view = View()
    try:
        _set_up_and_train(channel, child, session)
        go.set()
        _replay(channel, child, view, session)
    finally:
        stop.set()
        go.set()
        deadline = time.monotonic() + STOP_WAIT_S
        while child.is_alive() and time.monotonic() < deadline:
            for message in _drain(channel, 0.1):
                if message.get("event") == "done":
                    result.final = message
        if child.is_alive():
            child.terminate()
        child.join(timeout=5)
        result.plot = _plot(view, result.run_dir) if options.plot and view.series else None


def _set_up_and_train(channel: Any, child: Any, session: _Session) -> None:
    console, result, run_dir = session.console, session.result, session.result.run_dir

    with console.status("setting the world up through the API (customers, wallets, balances)…"):
        setup = _wait_for(channel, child, "setup")
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
            session.world_dir, session.start_ns, mapping, run_dir, session.trained
        )
        session.service.reload_risk()  # the model and the warm feature state just written
        gc.collect()  # as `clearline serve` does: what lives for the whole run leaves the
        gc.freeze()  # cyclic collector's full passes (see api/server.py)
    result.model_version = trained["model_version"]
    seconds = time.perf_counter() - started
    if session.trained:
        frauds = trained["training"].get("positives")
        console.print(
            f"model {trained['model_version']}: trained on {trained['trained_on']}"
            + (f" ({frauds:,} labelled fraud in its training slice)" if frauds else "")
            + f", PR-AUC {trained['test']['pr_auc']:.3f} on its held-out test slice; feature "
            f"state warmed with this world's {trained['payments']:,} history payments in "
            f"{seconds:.1f} s"
        )
    else:
        console.print(
            f"model {trained['model_version']}: trained on {trained['payments']:,} history "
            f"payments ({trained['fraud']:,} labelled fraud) in {seconds:.1f} s; feature state "
            "warmed with the same history"
        )


def _wait_for(channel: Any, child: Any, wanted: str) -> dict[str, Any]:
    deadline = time.monotonic() + SETUP_WAIT_S
    while time.monotonic() < deadline:
        for message in _drain(channel, 0.2):
            if message.get("event") == wanted:
                return message
            if message.get("event") == "error":
                raise RuntimeError(f"traffic process failed: {message['message']}")
        if not child.is_alive():
            raise RuntimeError(f"traffic process exited (code {child.exitcode})")
    raise RuntimeError(f"traffic process sent no {wanted!r} in {SETUP_WAIT_S:.0f} s")


def _replay(channel: Any, child: Any, view: View, session: _Session) -> None:
    from rich.live import Live

    url, header, result = session.url, session.header, session.result
    auth = {"Authorization": f"Bearer {session.admin_key}"}

    view.phase = "replaying the later days as live traffic (Ctrl-C stops cleanly)"
    checked = 0.0
    with (
        httpx.Client(base_url=url, headers=auth) as client,
        Live(render(view, header), console=session.console, refresh_per_second=4) as live,
    ):
        try:
            while True:
                for message in _drain(channel, 0.25):
                    event = message.get("event")
                    if event in ("progress", "done"):
                        view.update(message)
                    if event == "error":
                        raise RuntimeError(f"traffic process failed: {message['message']}")
                    if event == "done":
                        result.final = message
                if time.monotonic() - checked >= CHECKPOINT_EVERY_S or result.final:
                    view.checkpoint, checked = _checkpoint(client), time.monotonic()
                live.update(render(view, header))
                if result.final:
                    break
                if not child.is_alive():
                    raise RuntimeError(f"traffic process exited (code {child.exitcode})")
        except KeyboardInterrupt:
            view.phase = "stopping: traffic first, then the server, then the ledger"
            live.update(render(view, header))
            raise
        finally:
            result.checkpoint = view.checkpoint


def _plot(view: View, run_dir: Path) -> Path | None:
    """Payments per second and p99 latency over the replay, as a PNG beside the data."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    elapsed = np.array([point[0] for point in view.series])
    done = np.array([point[1] for point in view.series], dtype=float)
    p99 = np.array([np.nan if point[2] is None else point[2] for point in view.series])
    rate = np.diff(done, prepend=0.0) / np.maximum(np.diff(elapsed, prepend=0.0), 1e-9)
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    top.plot(elapsed, rate)
    top.set_ylabel("payments/s")
    top.set_title("Clearline live demo: payments through HTTP")
    bottom.plot(elapsed, p99, color="tab:red")
    bottom.set_ylabel("p99 latency (ms, so far)")
    bottom.set_xlabel("seconds since the replay started")
    figure.tight_layout()
    path = run_dir / "demo.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _summary(result: LiveDemoResult, console: Console) -> None:
    final = result.final
    how = "stopped by Ctrl-C" if result.interrupted else "replay finished"
    console.print(f"\n[bold]{how}[/bold]; server stopped, ledger closed.")
    if final:
        decided = final["approve"] + final["review"] + final["decline"]
        table = Table(title="Live demo: measured")
        table.add_column("what")
        table.add_column("value", justify="right")
        table.add_row("payments answered", f"{final['done']:,} of {final['total']:,}")
        table.add_row("payments/s (average)", f"{final['payments_per_s']:,.0f}")
        table.add_row(
            "latency p50 / p99", f"{_ms(final['latency_ms_p50'])} / {_ms(final['latency_ms_p99'])}"
        )
        for action in ("approve", "review", "decline"):
            table.add_row(action, _share(final[action], decided))
        table.add_row(
            "refused by limits (before the decision)", f"{sum(final['refused'].values()):,}"
        )
        table.add_row("refused by the ledger (after approval)", f"{final['failed']:,}")
        table.add_row("errors", f"{final['errors']:,}")
        table.add_row("labelled fraud", f"{final['fraud_seen']:,}")
        table.add_row(
            "  caught (declined or reviewed)", _share(final["fraud_caught"], final["fraud_seen"])
        )
        table.add_row("  missed (approved)", _share(final["fraud_missed"], final["fraud_seen"]))
        table.add_row("  by limits", _share(final["fraud_refused"], final["fraud_seen"]))
        table.add_row(
            "false alarms (honest, declined or reviewed)",
            _share(final["false_alarms"], final["honest_decided"]),
        )
        table.add_row("cross-currency payments skipped", f"{final['skipped_cross_currency']:,}")
        if result.checkpoint:
            table.add_row(
                "latest checkpoint",
                f"size {result.checkpoint['size']:,}, root {result.checkpoint['root_hash'][:16]}…",
            )
        console.print(table)
    if result.plot is not None:
        console.print(f"plot: {result.plot}")
    export = result.run_dir.with_name(result.run_dir.name + "-export")
    console.print(
        "check it offline:\n"
        f"  clearline --data-dir {result.run_dir} audit export {export}\n"
        f"  clearline audit verify {export}"
    )

"""The composition root: one data directory opened as one platform, its rooms wired together.

`Platform.open(directory)` is the only place that builds the platform's services; `clearline
serve`, the CLI, the demo and the tests all call it, so they all run the same platform. A room
never opens another room's parts: it is handed what it needs here.

What a data directory holds, and which room owns it:

- `ledger.sqlite3`: `ledger` (accounts, transfers, attestations) and `chain` (the log's tiles
  and signed checkpoints), in one database;
- `node.toml` and the log's key files: `chain` (origin, checkpoint interval, witnesses, keys);
- `platform.sqlite`: `db`, holding each room's tables (`customers`, `payments`, `access`,
  `idempotency`, `trail`, `contracts`);
- `keys/`: `vault` (the data keys personal data is encrypted under);
- `platform.toml`: `platform` (settings, optional);
- `models/current/`, `rules.yaml`, `risk_state.pickle`: `risk`, through `payments.risk_gate`.

Guarantees:
- Opening is all or nothing: a room that fails to open closes what was opened before it, and
  the error reaches the caller. `close()` closes in the reverse order, after saving the risk
  features' state; closing twice is harmless.
- One process at a time serves a data directory: the ledger holds its database exclusively, and
  the platform holds `platform.lock` shared, so a maintenance command that must be alone
  (`clearline keys rotate-data-key`) can tell a running server apart and refuse.
- Background work (hold expiry, sealing the audit trail) runs only inside `run_background`,
  started by whoever serves the platform (the API's lifespan).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from pathlib import Path
from typing import IO, Any

from clearline.access import SCHEMA as ACCESS_SCHEMA
from clearline.access import KeyStore, RateLimiter
from clearline.access.idempotency import ENCRYPTED_COLUMNS as IDEMPOTENCY_ENCRYPTED
from clearline.access.idempotency import SCHEMA as IDEMPOTENCY_SCHEMA
from clearline.access.idempotency import IdempotencyRecords
from clearline.aml.screening.store import SCHEMA as SCREENING_SCHEMA
from clearline.contracts.executions import SCHEMA as CONTRACTS_SCHEMA
from clearline.contracts.executor import Executor
from clearline.contracts.numscript import ProgramCache
from clearline.contracts.service import ContractService
from clearline.core.clock import Clock, SystemClock
from clearline.core.errors import ClearlineError
from clearline.customers import ENCRYPTED_COLUMNS as CUSTOMERS_ENCRYPTED
from clearline.customers import SCHEMA as CUSTOMERS_SCHEMA
from clearline.customers import Directory
from clearline.db import PlatformStore, Schema
from clearline.kyc import ReferenceRates
from clearline.ledger import Ledger
from clearline.payments import SCHEMA as PAYMENTS_SCHEMA
from clearline.payments import PaymentService
from clearline.payments.records import PaymentRecords
from clearline.payments.risk_gate import open_gate, save_state
from clearline.platform.settings import Settings, load_settings
from clearline.trail import SCHEMA as TRAIL_SCHEMA
from clearline.trail import SYSTEM, AuditTrail
from clearline.vault import DataKeyRing, EncryptedColumn

log = logging.getLogger(__name__)

LOCK_FILE = "platform.lock"
KEYS_DIRECTORY = "keys"
EXPIRY_EVERY_S = 1.0

ROOM_SCHEMAS: tuple[Schema, ...] = (
    CUSTOMERS_SCHEMA,
    PAYMENTS_SCHEMA,
    ACCESS_SCHEMA,
    IDEMPOTENCY_SCHEMA,
    TRAIL_SCHEMA,
    CONTRACTS_SCHEMA,
    SCREENING_SCHEMA,
)
"""The platform database's tables, room by room; a new room adds its schema here."""

ENCRYPTED_COLUMNS: tuple[EncryptedColumn, ...] = (*CUSTOMERS_ENCRYPTED, *IDEMPOTENCY_ENCRYPTED)
"""Every column of the platform database that holds data-key tokens: a room that encrypts a
column adds it here, so `clearline keys rotate-data-key` re-encrypts it before an old key goes."""


class PlatformBusy(ClearlineError):
    """Another process has the data directory open (a running `clearline serve`)."""

    code = "platform_busy"


class DirectoryLock:
    """`platform.lock` in a data directory, held shared by every open platform; a command that
    needs the directory alone takes it exclusively, without waiting."""

    def __init__(self, directory: Path, *, exclusive: bool = False) -> None:
        self._file: IO[bytes] | None = open(Path(directory) / LOCK_FILE, "ab")  # noqa: SIM115
        os.chmod(Path(directory) / LOCK_FILE, 0o600)
        try:
            fcntl.flock(self._file, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.close()
            self._file = None
            raise PlatformBusy(
                f"{directory} is open in another process (a running `clearline serve`?): "
                "stop it first, then run this again"
            ) from None

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the file drops the lock
            self._file = None


class Records:
    """The platform database alone (no ledger): what `clearline keys …` and other maintenance
    commands need, also while a server has the ledger open."""

    def __init__(self, data_directory: Path) -> None:
        directory = Path(data_directory)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.data_directory = directory
        self.store = PlatformStore(directory, ROOM_SCHEMAS)
        self.trail = AuditTrail(self.store, SystemClock())
        self.keys = KeyStore(self.store, self.trail)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Records:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Platform:
    """The services of one data directory. Attributes are the rooms' public faces: `ledger`,
    `store` (the platform database), `ring` (data keys), `trail` (audit), `keys` (API keys),
    `idempotency` (stored responses), `limiter` (rate limits), `directory` (customers and
    accounts), `payments`, `scripts` (Numscript programs on the ledger), `programs` (the
    compiled programs' cache) and `contracts` (escrow, HTLC and program contracts)."""

    def __init__(self, data_directory: Path, clock: Clock, settings: Settings) -> None:
        self.data_directory, self.clock, self.settings = Path(data_directory), clock, settings
        self._closers: list[Any] = []
        self._closed = False

    @classmethod
    def open(
        cls,
        data_directory: Path,
        *,
        clock: Clock | None = None,
        model_directory: Path | None = None,
        ledger: Ledger | None = None,
        settings: Settings | None = None,
        rates: ReferenceRates | None = None,
    ) -> Platform:
        """Open (creating on first run) the platform in `data_directory`. `ledger`: one already
        open on it (the caller keeps closing it); `settings`: instead of `platform.toml`;
        `rates`: the limit checks' reference rates."""
        directory = Path(data_directory)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        platform = cls(directory, clock or SystemClock(), settings or load_settings(directory))
        try:
            platform._open(model_directory, ledger, rates)
        except BaseException:
            platform.close()
            raise
        return platform

    def _open(
        self,
        model_directory: Path | None,
        ledger: Ledger | None,
        rates: ReferenceRates | None,
    ) -> None:
        lock = DirectoryLock(self.data_directory)
        self._closers.append(lock.release)
        if ledger is None:
            ledger = Ledger.open(self.data_directory, clock=self.clock)
            self._closers.append(ledger.close)
        self.ledger = ledger
        self.store = PlatformStore(self.data_directory, ROOM_SCHEMAS)
        self._closers.append(self.store.close)
        self.ring = DataKeyRing.open(self.data_directory / KEYS_DIRECTORY)
        self.trail = AuditTrail(self.store, self.clock)
        self.keys = KeyStore(self.store, self.trail)
        self.idempotency = IdempotencyRecords(self.store, self.ring)
        self.limiter = RateLimiter(self.settings.rate_limits)
        self.directory = Directory(self.store, ledger, self.ring, self.trail, self.clock)
        self.payments = PaymentService(
            ledger,
            PaymentRecords(self.store, self.clock),
            self.directory,
            open_gate(self.data_directory, model_directory),
            self.trail,
            clock=self.clock,
            rates=rates,
            review_timeout_s=self.settings.review_timeout_s,
            authorization_timeout_s=self.settings.authorization_timeout_s,
        )
        self.scripts = Executor(ledger, self.store, self.clock)
        self.scripts.recover()
        self._closers.append(self.scripts.close)
        self.programs = ProgramCache()
        self.contracts = ContractService(
            ledger, self.store, self.trail, self.scripts, self.programs, self.clock
        )
        self.contracts.recover()
        self._closers.append(lambda: save_state(self.payments.gate, self.data_directory))
        self._closers.append(self._seal_before_closing)

    def reload_risk(self, model_directory: Path | None = None) -> None:
        """Reopen the risk gate from the data directory: the model in `model_directory`
        (default DATA/models/current), the rules, and the feature state saved there (a freshly
        trained model's warm state). The state held until now is replaced, not saved."""
        self.payments.gate = open_gate(self.data_directory, model_directory)

    def first_admin_key(self) -> str | None:
        """A new admin key when the data directory has none yet (first run)."""
        if self.keys.list():
            return None
        key, _ = self.keys.create("admin", label="first run", actor=SYSTEM)
        return key

    async def run_background(self, expiry_every_s: float = EXPIRY_EVERY_S) -> None:
        """The platform's background work, until cancelled: holds nobody acted on expire, the
        audit trail is sealed into the log, and contracts past their deadlines end."""
        tasks = [
            asyncio.create_task(self.payments.expiry.run(expiry_every_s), name="hold expiry"),
            asyncio.create_task(self.trail.run_sealer(self.ledger), name="audit sealer"),
            asyncio.create_task(self.contracts.run_background(), name="contract deadlines"),
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def seal_audit_trail(self) -> int:
        """Seal every audit event not yet in the log (at close, or on demand); how many."""
        sealed = 0
        while count := await self.trail.seal_pending(self.ledger):
            sealed += count
        return sealed

    def _seal_before_closing(self) -> None:
        """What the trail recorded since the sealer's last round goes into the log now, while
        the ledger is still open (a failure is logged; the next start seals it)."""
        try:
            while self.trail.seal_pending_sync(self.ledger):
                pass
        except Exception:
            log.exception("sealing the audit trail at close failed; the next start seals it")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        while self._closers:
            self._closers.pop()()

    def __enter__(self) -> Platform:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

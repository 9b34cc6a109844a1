"""Running the API: `clearline serve` on a data directory, one process, the embedded default.

Guarantees:
- The service (ledger, log, platform records, risk state) is opened before the first request
  and closed after the last: Ctrl-C (SIGINT) or SIGTERM stop uvicorn gracefully, then the ledger
  checkpoints, the risk feature state is snapshotted and everything is released. What was
  acknowledged is durable either way.
- On first run an admin key is created and printed once (the last line of the output), unless
  the data directory already has keys.
"""

from __future__ import annotations

import gc
import logging
import os
from pathlib import Path

from clearline.api.app import create_app
from clearline.api.keys import KeyStore
from clearline.payments.service import REVIEW_TIMEOUT_S, PaymentService

log = logging.getLogger(__name__)


def first_admin_key(service: PaymentService) -> str | None:
    """A new admin key when the data directory has none yet (first run)."""
    keys = KeyStore(service.store)
    if keys.list():
        return None
    key, _ = keys.create("admin", label="first run")
    return key


def serve(
    data_directory: Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    model_directory: Path | None = None,
    review_timeout_s: int | None = None,
    announce: bool = True,
    access_log: bool = False,
) -> None:
    import uvicorn

    service = PaymentService.open(
        data_directory,
        model_directory=model_directory,
        review_timeout_s=REVIEW_TIMEOUT_S if review_timeout_s is None else review_timeout_s,
    )
    try:
        key = first_admin_key(service)
        app = create_app(service)
        if os.environ.get("CLEARLINE_GC_FREEZE", "1") == "1":
            # What was loaded at start (code, the model, the risk state's history) stays alive
            # for the server's lifetime: keep it out of the cyclic collector's full passes, as
            # long-running servers do (gc.freeze), so they walk only what requests create.
            gc.collect()
            gc.freeze()
        if announce:
            print(f"Clearline API on http://{host}:{port}  (docs: http://{host}:{port}/docs)")
            print(f"data directory: {data_directory}")
            if key is not None:
                print("first run: an admin key was created; store it now, it is shown once:")
                print(key, flush=True)
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=access_log,
            loop="uvloop",
            http="httptools",
            lifespan="on",
        )
        uvicorn.Server(config).run()
    finally:
        service.close()

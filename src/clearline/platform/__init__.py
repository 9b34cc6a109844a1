"""The composition root: `Platform.open(directory)` opens a data directory and wires its rooms
(ledger and log, platform database, data keys, audit trail, API keys and rate limits, customers,
payments with the risk gate); `serve`, the CLI, the demo and the tests all build it the same way.
"""

from clearline.platform.root import LOCK_FILE, DirectoryLock, Platform, PlatformBusy, Records
from clearline.platform.settings import (
    SETTINGS_FILE,
    PlatformConfigInvalid,
    Settings,
    load_settings,
)

__all__ = [
    "LOCK_FILE",
    "SETTINGS_FILE",
    "DirectoryLock",
    "Platform",
    "PlatformBusy",
    "PlatformConfigInvalid",
    "Records",
    "Settings",
    "load_settings",
]

"""Clearline: an open-source, AI-enabled digital finance platform.

The package is organised in rooms (see ARCHITECTURE.md): `core` holds money, assets, ids, the clock
and base errors; `ledger` holds the exact double-entry ledger. Every other room builds on these.
"""

__version__ = "0.1.0"

"""The platform database: a group-committed SQLite store of every room's records, with each
room's tables declared as a versioned schema and applied at open."""

from clearline.db.schema import Schema, SchemaTooNew
from clearline.db.store import DATABASE_FILE, PlatformStore, next_seq

__all__ = ["DATABASE_FILE", "PlatformStore", "Schema", "SchemaTooNew", "next_seq"]

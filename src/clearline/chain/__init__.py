"""The verifiable settlement log: RFC 6962 Merkle tree, canonical event encoding, signed
checkpoints (C2SP signed notes, Ed25519 and ML-DSA-65) and a log sealed with every ledger batch.

Modules: `merkle` (pure hashing, proofs, verifiers, compact range), `encoding` (canonical event
bytes), `keys` (signers, verifiers, key files, rotation), `notes` (signed notes and checkpoints),
`tiles` (tile layout and batch append), `tip` (the log's tables and their cached tip), `log` (the
sealer: the ledger's commit hook), `hasher` (hashing on another core) and `hash_worker` (the
worker process it starts), `backfill` (events a ledger holds beyond its log), `reader`
(`ChainLog`: leaves, checkpoints and proofs), `node` (`node.toml` and the default sealer that
`Ledger.open` loads), `witness` (cosigning), `publish` (k-of-n witness cosignatures), `export`
(writing an export), `replay` (the ledger's rules over an export's events), `audit` (offline
verification), `cli` (`clearline audit …`, `clearline witness …`).
"""

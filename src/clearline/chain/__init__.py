"""The verifiable settlement log: RFC 6962 Merkle tree, canonical event encoding, signed
checkpoints (C2SP signed notes, Ed25519 and ML-DSA-65) and a log sealed with every ledger batch.

Modules: `merkle` (pure hashing, proofs, verifiers, compact range), `encoding` (canonical event
bytes), `keys` (signers, verifiers, key files), `notes` (signed notes and checkpoints), `log` (the
ledger commit hook and proofs read from the ledger's database).
"""

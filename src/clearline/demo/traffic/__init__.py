"""Turning a simulated world into platform state and live HTTP traffic.

The rooms, in the order the traffic uses them: `plan` (the world, read once: owners, balances and
the payments to replay), `client` (one keep-alive HTTP connection), `provision` (customers,
wallets and balances through the API), `replay` (payments through `POST /v1/payments`), `tally`
(what the answers were, joined with the world's labels), `clock` (the world's time, shared with
the platform through a memory-mapped file), `protocol` (what the demo and its traffic process say
to each other), `process` (the demo's handle on that process) and `main` (the entry point:
`python -m clearline.demo.traffic`).

Everything goes through the public HTTP API with one API key; nothing here imports the
platform's own modules. This package imports nothing itself, so the child process pays only for
the rooms it uses.
"""

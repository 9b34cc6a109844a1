"""How `clearline contracts …` prints contracts, steps, lists and proofs for people (the
`--json` form is the API's answer, printed as it is)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import orjson
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from clearline.api import contract_schemas as c
    from clearline.api import schemas as s

PIPED_COLUMNS: Final = 200


def console_out() -> Console:
    console = Console(highlight=False, soft_wrap=True, markup=False)
    if not console.is_terminal:  # piped: a row stays one line, not folded at 80 columns
        console.width = PIPED_COLUMNS
    return console


def seconds(at: str | None) -> str:
    """An API time to the second, for tables (`2026-12-03T14:24:59Z`)."""
    return re.sub(r"\.\d+Z$", "Z", at or "")


# -- printing ---------------------------------------------------------------------------------


def outcome_text(outcome: Mapping[str, Any] | None) -> str:
    if not outcome:
        return ""
    return ", ".join(
        f"{name} {orjson.dumps(value).decode() if isinstance(value, dict | list) else value}"
        for name, value in outcome.items()
    )


def step_refusal(step: c.StepOut) -> str | None:
    """Why a failed step's ledger operations (or program) were refused."""
    if step.status != "failed":
        return None
    outcome = step.outcome or {}
    return str(outcome.get("ledger") or outcome.get("error") or "refused")


def step_line(step: c.StepOut) -> str:
    refusal = step_refusal(step)
    said = (
        f"step {step.step}: {step.status} "
        f"({step.action} by {step.actor_key_id}, {seconds(step.at)})"
    )
    if refusal is not None:
        return f"{said}: refused: {refusal}; nothing moved"
    outcome = outcome_text(step.outcome)
    return f"{said}: {outcome}" if outcome else said


def headline(contract: c.ContractOut) -> str:
    deadline = f", deadline {seconds(contract.deadline)}" if contract.deadline else ""
    return (
        f"{contract.template} contract {contract.id} is {contract.state} "
        f"(version {contract.version}{deadline})"
    )


def show_contract(contract: c.ContractOut) -> None:
    console = console_out()
    console.print(headline(contract))
    console.print(
        f"created {seconds(contract.created)} by {contract.creator_key_id}, "
        f"updated {seconds(contract.updated)}"
    )
    for party in contract.parties:
        who = f"customer {party.customer_id}" if party.customer_id else f"key {party.key_id}"
        console.print(f"party {party.name}: {who}")
    console.print(f"terms {orjson.dumps(contract.terms).decode()}")
    console.print(f"data {orjson.dumps(contract.data).decode()}")
    table = Table(show_edge=False)
    for name in ("step", "status", "action", "by", "outcome", "at"):
        table.add_column(name, overflow="fold")
    for step in contract.steps:
        refusal = step_refusal(step)
        outcome = f"refused: {refusal}" if refusal else outcome_text(step.outcome)
        table.add_row(
            step.step, step.status, step.action, step.actor_key_id, outcome, seconds(step.at)
        )
    console.print(table)
    if contract.latest_event_id is not None:
        console.print(
            f"latest event {contract.latest_event_id}: clearline contracts proof {contract.id}"
        )


def list_table(contracts: list[c.ContractOut]) -> Table:
    table = Table(show_edge=False)
    table.add_column("id", no_wrap=True)
    for name in ("template", "state"):
        table.add_column(name, overflow="fold")
    table.add_column("version", justify="right")
    for name in ("deadline", "updated"):
        table.add_column(name, no_wrap=True)
    for row in contracts:
        table.add_row(
            row.id, row.template, row.state, str(row.version),
            seconds(row.deadline), seconds(row.updated),
        )  # fmt: skip
    return table


def proof_lines(answer: s.AuditProofOut) -> list[str]:
    from clearline.chain.merkle import leaf_hash, verify_inclusion

    event, proof, checkpoint = answer.event, answer.proof, answer.checkpoint
    verify_inclusion(
        proof.leaf_index,
        proof.tree_size,
        leaf_hash(bytes.fromhex(answer.leaf)),
        [bytes.fromhex(node) for node in proof.proof],
        bytes.fromhex(checkpoint.root_hash),
    )
    return [
        f"event {event.id}: {event.action} on {event.resource_type} {event.resource_id} "
        f"by {event.actor_key_id} ({event.actor_role}) at {event.at}",
        f"details {orjson.dumps(event.details).decode()}",
        f"digest {answer.digest} (SHA-256 of the event's canonical bytes); "
        + ("intact: the stored event still hashes to it" if answer.intact else "CHANGED since"),
        f"leaf {proof.leaf_index} of {proof.tree_size}, {len(proof.proof)} proof nodes, "
        f"leaf hash {proof.leaf_hash}",
        f"checkpoint {checkpoint.origin} size {checkpoint.size} root {checkpoint.root_hash}",
        "verified: the inclusion proof leads from the leaf to the checkpoint's root "
        "(check the checkpoint's signature with the log's key: `clearline audit`)",
    ]


# -- commands ---------------------------------------------------------------------------------

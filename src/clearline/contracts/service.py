"""Contracts: create one from a template, act on it, let time act on it; every step durable.

Guarantees:
- Every step of a contract (`create`, `approve:<party>`, `attest:<milestone>`, `fulfil`,
  `cancel`, `expire`, `occurrence:<time>`, `skip:<time>`) is recorded before its ledger
  operations are submitted, with ids derived from the contract and the step; the ledger's
  answer, the contract's new state and the step's audit event (`contract.*`, sealed into the
  verifiable log by the trail) are written together after. A step that exists already is not
  run again: acting twice is answered with the contract as it is (idempotent), and `recover()`
  finishes a step a crash interrupted with the same ledger ids, so no step is lost or doubled.
- Named parties act only as themselves: a caller acts as a party when its customer (a customer
  key) or its key id is the party's. Operators create contracts and may cancel them (a dispute);
  they approve, attest or fulfil only when they are the named party.
- Steps of one contract run one at a time; different contracts' steps run concurrently.
- `sweep()` (run every second by `run_background`) does what time does: an escrow past its
  deadline is refunded, an HTLC past its expiry is expired (the ledger voids the holds at the
  expiry by its clock; the sweep records it), a standing order's due occurrences run (or, late
  beyond its grace, follow its missed policy: `schedules`), at most `OCCURRENCES_PER_SWEEP` per
  contract per sweep. An occurrence's ledger ids derive from the contract and its time; a
  refused one is recorded `failed` with the ledger's (or the program's) reason and the order
  goes on, unless `stop_after_failures` refusals in a row stop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Final

from clearline.access import Principal
from clearline.contracts import templates as tp
from clearline.contracts.executor import Execution, Executor
from clearline.contracts.numscript import NumscriptError, ProgramCache
from clearline.contracts.records import Contract, ContractRecords, Party, Step, Transition
from clearline.contracts.schedules import Schedule, occurrence_name
from clearline.core.assets import asset as asset_of
from clearline.core.clock import Clock
from clearline.core.errors import ClearlineError, InvalidInput, NotFound
from clearline.core.ids import derive_id, format_id, new_id
from clearline.db import PlatformStore
from clearline.ledger import Account, Ledger, Transfer
from clearline.trail import SYSTEM, Actor, AuditTrail

TEMPLATES: Final = ("escrow", "htlc", "numscript", "schedule")
SWEEP_EVERY_S: Final = 1.0
PARTIES_MAX: Final = 32
NS: Final = 1_000_000_000
OCCURRENCES_PER_SWEEP: Final = 64
FAILURES_MAX: Final = 1_000


class ContractService:
    """The contracts room's public face (see the module's guarantees)."""

    def __init__(
        self,
        ledger: Ledger,
        store: PlatformStore,
        trail: AuditTrail,
        executor: Executor,
        programs: ProgramCache,
        clock: Clock,
    ) -> None:
        self.ledger, self.executor, self.programs, self.clock = ledger, executor, programs, clock
        self.records = ContractRecords(store, trail)
        self._locks: dict[int, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # -- reads --------------------------------------------------------------------------------

    def get(self, contract_id: int, principal: Principal | None = None) -> Contract:
        contract = self.records.get(contract_id)
        if contract is None or (principal is not None and not self.visible(contract, principal)):
            raise NotFound(f"no contract {format_id(contract_id)}", code="contract_not_found")
        return contract

    @staticmethod
    def visible(contract: Contract, principal: Principal) -> bool:
        if principal.scope is None:
            return True
        return any(_is(party, principal) for party in contract.parties)

    def steps(self, contract_id: int) -> list[Step]:
        return self.records.steps(contract_id)

    # -- creating -----------------------------------------------------------------------------

    def create(
        self,
        template: str,
        parties: Sequence[Party],
        terms: Mapping[str, Any],
        actor: Actor,
        *,
        contract_id: int | None = None,
        asset: str | None = None,
    ) -> Contract:
        """Create a contract and run its first step (lock, fund or run)."""
        if template not in TEMPLATES:
            raise InvalidInput(f"template must be one of {', '.join(TEMPLATES)}", code="template")
        if len(parties) > PARTIES_MAX or len({p.name for p in parties}) != len(parties):
            raise tp.InvalidTerms(f"parties: at most {PARTIES_MAX}, each with its own name")
        identifier = contract_id or new_id()
        existing = self.records.get(identifier)
        if existing is not None:
            return self._finish_pending(existing) or existing
        now = self.clock.now_ns()
        names = {p.name for p in parties}
        data: dict[str, Any] = {}
        if template == "htlc":
            checked = tp.htlc_terms(terms)
            operations = tp.htlc_lock(identifier, checked)
            deadline = now + checked["timeout_s"] * NS
            state = "locking"
        elif template == "escrow":
            checked = tp.escrow_terms(terms, names)
            if asset is None:
                raise InvalidInput("an escrow needs the asset it holds", code="asset_missing")
            checked["asset"] = asset
            operations = tp.escrow_fund(identifier, checked, asset)
            deadline = now + checked["deadline_s"] * NS
            state = "funding"
        elif template == "schedule":
            checked, first = self._schedule_terms(terms, names, now)
            operations = tp.NONE
            deadline = first
            data = {"next_index": 0, "next_ns": first, "next": occurrence_name(first),
                    "occurrences": 0, "succeeded": 0, "failed": 0, "skipped": 0,
                    "failures_in_a_row": 0}  # fmt: skip
            state = "scheduling"
        else:
            checked = self._numscript_terms(terms)
            operations = tp.NONE
            deadline = None
            state = "running"
        contract = Contract(
            identifier, 0, template, state, actor.key_id, tuple(parties), checked,
            data, 0, deadline, None, now, now,
        )  # fmt: skip
        with self._lock(identifier):
            self.records.begin(None, contract, "create", "contract.create", actor,
                               operations.document(), now)  # fmt: skip
            stored = self.records.get(identifier)
            assert stored is not None
            return self._drive(stored, "create", actor, operations)

    def _schedule_terms(
        self, terms: Mapping[str, Any], names: set[str], now: int
    ) -> tuple[dict[str, Any], int]:
        schedule = Schedule.from_terms(terms.get("schedule") or {}, now)
        payment, program = terms.get("payment"), terms.get("numscript")
        if (payment is None) == (program is None):
            raise tp.InvalidTerms("a schedule runs a `payment` or a `numscript` program: one")
        checked: dict[str, Any] = {"schedule": schedule.terms()}
        if payment is not None:
            checked["payment"] = tp.schedule_payment_terms(payment)
        elif isinstance(program, Mapping):
            checked["numscript"] = self._numscript_terms(program)
        else:
            raise tp.InvalidTerms("numscript: {program, variables, feature_flags}")
        stop = terms.get("stop_after_failures")
        if stop is not None and (type(stop) is not int or not 0 < stop <= FAILURES_MAX):
            raise tp.InvalidTerms(f"stop_after_failures: 1..{FAILURES_MAX} refusals in a row")
        checked["stop_after_failures"] = stop
        if "payer" not in names:
            raise tp.InvalidTerms("a schedule names its `payer` party (who may cancel it)")
        first = schedule.first_from(now)
        if first is None:
            raise tp.InvalidTerms("the schedule has no occurrence at or after now: nothing to run")
        return checked, first[1]

    def _numscript_terms(self, terms: Mapping[str, Any]) -> dict[str, Any]:
        program = terms.get("program")
        variables = terms.get("variables") or {}
        flags = terms.get("feature_flags") or []
        if not isinstance(program, str) or not 0 < len(program) <= 65_536:
            raise tp.InvalidTerms("program: Numscript text, 1..65,536 characters")
        if not isinstance(variables, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in variables.items()
        ):
            raise tp.InvalidTerms("variables: names to Numscript literal text")
        self.programs.get(program, flags)  # a compile error refuses the contract now
        return {"program": program, "variables": variables, "feature_flags": list(flags)}

    # -- acting -------------------------------------------------------------------------------

    def approve(self, contract_id: int, principal: Principal, actor: Actor) -> Contract:
        """An approver of an escrow approves; the m-th approval releases what is left."""
        with self._lock(contract_id):
            contract = self._open(contract_id, principal, "escrow", ("funded",))
            name = self._acting_as(contract, principal, contract.terms["approvers"], "approve")
            step = f"approve:{name}"
            if self.records.step(contract_id, step) is not None:
                return self.get(contract_id)
            approvals = [*contract.data.get("approvals", []), name]
            releases = len(approvals) >= contract.terms["threshold"]
            remaining = self._remaining(contract)
            operations = (
                tp.escrow_move(
                    contract_id, "release", contract.terms["payee_account_id"], remaining
                )
                if releases
                else tp.NONE
            )
            return self._step(contract, step, "contract.approve", actor, operations)

    def attest(
        self, contract_id: int, milestone: str, principal: Principal, actor: Actor
    ) -> Contract:
        """The named attester of a milestone attests it: its share goes to the payee."""
        with self._lock(contract_id):
            contract = self._open(contract_id, principal, "escrow", ("funded",))
            found = next((m for m in contract.terms["milestones"] if m["name"] == milestone), None)
            if found is None:
                raise NotFound(f"the contract has no milestone {milestone!r}", code="milestone")
            self._acting_as(contract, principal, [found["attester"]], "attest")
            step = f"attest:{milestone}"
            if self.records.step(contract_id, step) is not None:
                return self.get(contract_id)
            amount = min(found["amount"], self._remaining(contract))
            operations = tp.escrow_move(
                contract_id, f"milestone {milestone}", contract.terms["payee_account_id"], amount
            )
            return self._step(contract, step, "contract.attest", actor, operations)

    def fulfil(
        self, contract_id: int, preimage_hex: str, principal: Principal, actor: Actor
    ) -> Contract:
        """The payee presents the preimage: every leg is posted, or (expired) none is."""
        with self._lock(contract_id):
            contract = self._open(contract_id, principal, "htlc", ("locked",))
            self._acting_as(contract, principal, ["payee"], "fulfil")
            tp.check_preimage(contract.terms, preimage_hex)
            if self.records.step(contract_id, "fulfil") is not None:
                return self.get(contract_id)
            operations = tp.htlc_resolve(contract_id, contract.terms, post=True)
            return self._step(
                contract, "fulfil", "contract.fulfil", actor, operations,
                details={"preimage": preimage_hex.lower()},
            )  # fmt: skip

    def cancel(self, contract_id: int, principal: Principal, actor: Actor) -> Contract:
        """The payee gives it up, or an operator stops it: the funds go back to the payer."""
        with self._lock(contract_id):
            contract = self.get(contract_id, principal)
            if principal.scope is not None:
                who = "payer" if contract.template == "schedule" else "payee"
                self._acting_as(contract, principal, [who], "cancel")
            if contract.template == "schedule":
                contract = self._finish_pending(contract) or contract
            if contract.template == "schedule" and contract.state == "active":
                operations = tp.NONE
            elif contract.template == "htlc" and contract.state == "locked":
                operations = tp.htlc_resolve(contract_id, contract.terms, post=False)
            elif contract.template == "escrow" and contract.state == "funded":
                operations = tp.escrow_move(
                    contract_id, "refund", contract.terms["payer_account_id"],
                    self._remaining(contract),
                )  # fmt: skip
            else:
                raise tp.NotAllowed(
                    f"this {contract.template} contract is {contract.state}: it cannot be cancelled"
                )
            return self._step(contract, "cancel", "contract.cancel", actor, operations)

    # -- time ---------------------------------------------------------------------------------

    def sweep(self) -> int:
        """End what is past its deadline; how many contracts changed."""
        now = self.clock.now_ns()
        changed = 0
        due = self.records.due(now)
        if any(c.template == "htlc" for c in due):
            self.ledger.tick()  # the ledger voids holds that are due by its clock
        for contract in due:
            with self._lock(contract.id):
                current = self.records.get(contract.id)
                if current is None or current.deadline_ns is None or current.deadline_ns > now:
                    continue
                if current.template == "escrow" and current.state == "funded":
                    operations = tp.escrow_move(
                        current.id, "refund", current.terms["payer_account_id"],
                        self._remaining(current),
                    )  # fmt: skip
                    self._step(current, "expire", "contract.expire", SYSTEM, operations)
                    changed += 1
                elif current.template == "htlc" and current.state == "locked":
                    ids = [tp.lock_id(current.id, n) for n in range(len(current.terms["legs"]))]
                    statuses = self.ledger.pending_statuses(ids)
                    if all(s in ("expired", "voided") for s in statuses):
                        self._step(current, "expire", "contract.expire", SYSTEM, tp.NONE)
                        changed += 1
                elif current.template == "schedule" and current.state == "active":
                    changed += self._occur(current, now)
        return changed

    def _occur(self, contract: Contract, now: int) -> int:
        """Run (or skip, by its missed policy) a standing order's due occurrences; how many
        steps that took."""
        schedule = Schedule(**contract.terms["schedule"])
        steps = 0
        while steps < OCCURRENCES_PER_SWEEP and contract.state == "active":
            index, when = int(contract.data["next_index"]), int(contract.data["next_ns"])
            if when > now:
                break
            if schedule.late(when, now) and schedule.missed != "run_all":
                following, skipped, last = schedule.skip_until(
                    index, when, now - schedule.grace_s * NS
                )
                keep_last = schedule.missed == "run_latest" and (
                    following is None or following[1] > now
                )
                if keep_last:  # nothing on time is due: the latest late one runs
                    skipped, following = skipped - 1, last
                if skipped > 0:
                    plan = {"skipped": skipped, "from_ns": when, "next": following}
                    contract = self._step(
                        contract, f"skip:{occurrence_name(when)}", "contract.occurrence",
                        SYSTEM, tp.Operations(plan=plan),
                    )  # fmt: skip
                    steps += 1
                    continue
            plan = {"index": index, "when_ns": when, "next": schedule.next_after(index, when)}
            payment = contract.terms.get("payment")
            operations = (
                tp.schedule_pay(contract.id, payment, plan)
                if payment is not None
                else tp.Operations(plan=plan)
            )
            contract = self._step(
                contract, f"occurrence:{occurrence_name(when)}", "contract.occurrence", SYSTEM,
                operations,
            )  # fmt: skip
            steps += 1
        return steps

    async def run_background(self, every_s: float = SWEEP_EVERY_S) -> None:
        while True:
            await asyncio.sleep(every_s)
            with contextlib.suppress(ClearlineError):
                await asyncio.to_thread(self.sweep)

    def recover(self) -> int:
        """Finish every step a crash left pending (at start); how many."""
        finished = 0
        for step in self.records.pending_steps():
            contract = self.records.get(step.contract_id)
            if contract is None:
                continue
            with self._lock(contract.id):
                self._resume(contract, step)
                finished += 1
        return finished

    # -- the step machinery -------------------------------------------------------------------

    def _step(
        self,
        contract: Contract,
        step: str,
        action: str,
        actor: Actor,
        operations: tp.Operations,
        *,
        details: Mapping[str, Any] | None = None,
    ) -> Contract:
        now = self.clock.now_ns()
        if not self.records.begin(contract, None, step, action, actor, operations.document(), now):
            return self._finish_pending(contract) or self.get(contract.id)
        return self._drive(contract, step, actor, operations, details)

    def _finish_pending(self, contract: Contract) -> Contract | None:
        for step in self.records.steps(contract.id):
            if step.status == "pending":
                return self._resume(contract, step)
        return None

    def _resume(self, contract: Contract, step: Step) -> Contract:
        """Drive a recorded, unfinished step with the operations it recorded."""
        return self._drive(
            contract, step.step, step.actor, tp.Operations.from_document(step.operations)
        )

    def _drive(
        self,
        contract: Contract,
        step: str,
        actor: Actor,
        operations: tp.Operations,
        details: Mapping[str, Any] | None = None,
    ) -> Contract:
        """Submit a recorded step's operations and complete it with its transition."""
        answer = self._submit(operations)
        if contract.template == "numscript" and step == "create":
            transition = self._run_program(contract)
        elif contract.template == "schedule" and step.startswith("occurrence:"):
            transition = self._occurrence(contract, operations.plan, answer)
        else:
            transition = _transition(contract, step, answer, details or operations.plan)
        self.records.complete(
            contract,
            step,
            actor,
            transition,
            self.clock.now_ns(),
            failed=answer.refusal is not None or transition.failed,
        )
        return self.get(contract.id)

    def _submit(self, operations: tp.Operations) -> tp.Answer:
        if operations.accounts:
            results = self.ledger.create_accounts(
                [Account(id=a.id, asset=asset_of(a.asset), code=a.code, flags=a.flags)
                 for a in operations.accounts]
            )  # fmt: skip
            for result in results:
                if result.result not in ("ok", "exists"):
                    return tp.Answer(f"ledger_{result.result}")
        if not operations.transfers:
            return tp.Answer(None)
        results = self.ledger.create_transfers(
            [
                Transfer(id=o.id, debit_account_id=o.debit, credit_account_id=o.credit,
                         amount=o.amount, code=o.code, flags=o.flags, pending_id=o.pending_id,
                         timeout=o.timeout)
                for o in operations.transfers
            ]
        )  # fmt: skip
        codes = tuple(str(r.result) for r in results)
        refusal = next((c for c in codes if c not in ("ok", "exists", "linked_event_failed")), None)
        return tp.Answer(None if refusal is None else f"ledger_{refusal}", codes)

    def _run_program(self, contract: Contract) -> Transition:
        result = self._execute(contract.terms, derive_id(contract.id, "numscript run"))
        if "error" not in result:
            return Transition(
                "executed", result, "contract.create", {"postings": result.pop("postings")}
            )
        return Transition("failed", result, "contract.create", {"error": result["error"]})

    def _execute(self, terms: Mapping[str, Any], execution_id: int) -> dict[str, Any]:
        """Run a contract's program as execution `execution_id` (once: a re-run is answered
        with the first outcome): its ids and transfers, and `error` if it was refused."""
        try:
            program = self.programs.get(terms["program"], terms["feature_flags"])
        except NumscriptError as error:
            return {"execution_id": format_id(execution_id), "error": error.code}
        [outcome] = self.executor.execute([Execution(execution_id, program, terms["variables"])])
        result: dict[str, Any] = {
            "execution_id": format_id(outcome.id),
            "transfer_ids": [format_id(i) for i in outcome.transfer_ids],
        }
        if outcome.ok:
            result["postings"] = len(outcome.postings)
        else:
            result["error"] = outcome.error_code
        return result

    def _occurrence(
        self, contract: Contract, plan: Mapping[str, Any], answer: tp.Answer
    ) -> Transition:
        """What an occurrence makes of a standing order: its result in `last`, the counts, the
        next occurrence (or completed), or stopped after too many refusals in a row."""
        when = int(plan["when_ns"])
        result: dict[str, Any] = {"at": occurrence_name(when)}
        if "numscript" in contract.terms:
            ran = self._execute(contract.terms["numscript"], tp.occurrence_id(contract.id, when))
            ran.pop("postings", None)
            result.update(ran)
        else:
            result["transfer_id"] = format_id(tp.occurrence_id(contract.id, when))
            if answer.refusal is not None:
                result["ledger"] = answer.refusal
        failed = "error" in result or "ledger" in result
        result["result"] = "failed" if failed else "ok"
        data = dict(contract.data)
        data["occurrences"] = int(data["occurrences"]) + 1
        data["failed" if failed else "succeeded"] = (
            int(data["failed" if failed else "succeeded"]) + 1
        )
        data["failures_in_a_row"] = int(data["failures_in_a_row"]) + 1 if failed else 0
        data["last"] = result
        stop = contract.terms.get("stop_after_failures")
        state, deadline = _advance(data, plan["next"])
        if stop is not None and data["failures_in_a_row"] >= stop and state == "active":
            state, deadline = "stopped", None
            data.pop("next_index", None), data.pop("next_ns", None), data.pop("next", None)
        return Transition(
            state, data, "contract.occurrence", result, deadline, result, failed=failed
        )

    def _open(
        self, contract_id: int, principal: Principal, template: str, states: tuple[str, ...]
    ) -> Contract:
        contract = self.get(contract_id, principal)
        if contract.template != template:
            raise tp.NotAllowed(
                f"this is a contract of template {contract.template}; that needs {template}"
            )
        pending = self._finish_pending(contract)
        if pending is not None:
            contract = pending
        if contract.state not in states:
            raise tp.NotAllowed(
                f"the contract is {contract.state}; this needs it {' or '.join(states)}"
            )
        return contract

    @staticmethod
    def _acting_as(
        contract: Contract, principal: Principal, names: Sequence[str], what: str
    ) -> str:
        for name in names:
            party = contract.party(name)
            if party is not None and _is(party, principal):
                return name
        raise tp.NotAParty(f"only {' or '.join(names) or 'a named party'} may {what} this contract")

    @staticmethod
    def _remaining(contract: Contract) -> int:
        return int(contract.terms["amount"]) - int(contract.data.get("released", 0))

    def _lock(self, contract_id: int) -> threading.Lock:
        with self._locks_guard:
            lock = self._locks.get(contract_id)
            if lock is None:
                if len(self._locks) > 65_536:
                    self._locks = {k: v for k, v in self._locks.items() if v.locked()}
                lock = self._locks[contract_id] = threading.Lock()
            return lock


def _is(party: Party, principal: Principal) -> bool:
    if principal.scope is not None:
        return party.customer_id == principal.scope
    return party.key_id is not None and party.key_id == principal.key_id


def _transition(
    contract: Contract, step: str, answer: tp.Answer, details: Mapping[str, Any]
) -> Transition:
    """What a step makes of the contract, given the ledger's answer."""
    data = dict(contract.data)
    refusal = answer.refusal
    extra = {"ledger": refusal} if refusal else {}
    kind = step.split(":", 1)[0]
    if contract.template == "htlc":
        action = f"contract.{kind}"
        if kind == "create":
            if refusal is None:
                return Transition("locked", data, action, extra, contract.deadline_ns, extra)
            return Transition("failed", data, action, extra, None, extra)
        if kind == "expire" or refusal == "ledger_pending_transfer_expired":
            return Transition("expired", data, action, extra, None, extra)
        if refusal is not None:  # nothing moved: still locked, still due at its expiry
            return Transition(contract.state, data, action, extra, contract.deadline_ns, extra)
        if kind == "fulfil":
            return Transition("fulfilled", {**data, **details}, action, dict(details), None)
        return Transition("cancelled", data, action, extra, None, extra)
    if contract.template == "escrow":
        released = int(data.get("released", 0))
        if kind == "create":
            state = "funded" if refusal is None else "failed"
            deadline = contract.deadline_ns if refusal is None else None
            return Transition(state, {"released": 0, "approvals": []}, "contract.create", extra,
                              deadline, extra)  # fmt: skip
        if refusal is not None:  # the escrow account cannot be overdrawn: a bug, not a state
            return Transition(contract.state, data, f"contract.{kind}", extra,
                              contract.deadline_ns, extra)  # fmt: skip
        if kind == "approve":
            approvals = [*data.get("approvals", []), step.split(":", 1)[1]]
            data["approvals"] = approvals
            if len(approvals) >= contract.terms["threshold"]:
                data["released"] = int(contract.terms["amount"])
                return Transition("released", data, "contract.approve",
                                  {"approvals": len(approvals)})  # fmt: skip
            return Transition("funded", data, "contract.approve", {"approvals": len(approvals)},
                              contract.deadline_ns)  # fmt: skip
        if kind == "attest":
            name = step.split(":", 1)[1]
            milestone = next(m for m in contract.terms["milestones"] if m["name"] == name)
            share = min(int(milestone["amount"]), int(contract.terms["amount"]) - released)
            data["released"] = released + share
            data["milestones"] = [*data.get("milestones", []), name]
            done = data["released"] >= int(contract.terms["amount"])
            return Transition("released" if done else "funded", data, "contract.attest",
                              {"milestone": name, "released": share},
                              None if done else contract.deadline_ns)  # fmt: skip
        refunded = int(contract.terms["amount"]) - released
        data["refunded"] = refunded
        action = "contract.cancel" if kind == "cancel" else "contract.expire"
        state = "refunded" if kind == "cancel" else "expired"
        return Transition(state, data, action, {"refunded": refunded})
    if contract.template == "schedule":
        if kind == "create":
            return Transition("active", data, "contract.create", {}, contract.deadline_ns)
        if kind == "skip":
            plan = details
            data["occurrences"] = int(data["occurrences"]) + int(plan["skipped"])
            data["skipped"] = int(data["skipped"]) + int(plan["skipped"])
            state, deadline = _advance(data, plan["next"])
            result = {"result": "skipped", "skipped": plan["skipped"],
                      "from": occurrence_name(int(plan["from_ns"]))}  # fmt: skip
            data["last"] = result
            return Transition(state, data, "contract.occurrence", result, deadline, result)
        data.pop("next_index", None), data.pop("next_ns", None), data.pop("next", None)
        return Transition("cancelled", data, "contract.cancel", {})
    return Transition(contract.state, data, f"contract.{kind}", extra)


def _advance(data: dict[str, Any], following: Sequence[int] | None) -> tuple[str, int | None]:
    """Move a standing order's data to its next occurrence: its state and deadline."""
    if following is None:
        data.pop("next_index", None), data.pop("next_ns", None), data.pop("next", None)
        return "completed", None
    index, when = int(following[0]), int(following[1])
    data.update(next_index=index, next_ns=when, next=occurrence_name(when))
    return "active", when

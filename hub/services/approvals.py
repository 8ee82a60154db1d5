"""Approvals and interrupts: deciding requests exactly once, expiring them, and asking a
working agent to stop.

A request is an ordinary `action` message (posted through `Messages`, which checks its
`metadata.approval` without a query). Deciding it is one transaction: the system message
replying to it (`insert_batch`: the session row lock, the next gap-free id), the
decision row, inserted only if the request has none, and the change's one activity row
(`approval.decided`, by the decider, or `hub` as `system` for an expiry) with its
webhook outbox row. Of concurrent deciders, on any
number of processes, one commits; the others find the decision and get `conflict`
carrying it. Expiry is the same decision, `expired`, made by whoever notices first: a
decision attempt after the request's time, or a hub's sweeper. A read writes nothing:
it shows a request whose time is up as `expired` before that decision is written.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec

from hub.config import Config
from hub.domain import Message, Principal, require
from hub.domain.approvals import (
    Approval,
    ApprovalStatus,
    Decision,
    Interrupt,
    decision_content,
    interrupt_content,
    may_decide,
    may_interrupt,
    policy_of,
)
from hub.errors import HubError
from hub.protocol import ApprovalEvent, InterruptEvent
from hub.services.events import Events
from hub.services.messages import Messages
from hub.store import Store, changes, message_batch
from hub.store import approvals as approval_store
from hub.store import sessions as session_store
from hub.store.messages import NewMessage
from hub.tasks import cancel_and_wait

__all__ = ["HUB_AUTHOR", "Approvals"]

log = logging.getLogger("hub.approvals")

HUB_AUTHOR = "hub"
"""The author id of the system messages recording decisions and interrupts."""
SWEEP_BATCH = 100
# a session that answers these takes no decision ever again (completed and deleted are final)
_FINAL = frozenset({"session_completed", "session_deleted", "session_not_found"})


class _Lost(Exception):
    """Another decision committed first: roll back and report it."""


class Approvals:
    def __init__(self, config: Config, store: Store, events: Events, messages: Messages) -> None:
        self._store = store
        self._events = events
        self._messages = messages
        self._interval = config.approval_sweep_interval
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="hub-approval-sweeper")

    async def close(self) -> None:
        await cancel_and_wait([self._sweeper])

    async def get(self, who: Principal, message_id: int) -> Approval:
        """The request and its decision; one whose time is up reads `expired` (a read
        writes nothing: the sweeper or the next decision attempt records it)."""
        require(who, "read")
        async with self._store.connection() as conn:
            row = await approval_store.get_approval(conn, who.session_id, message_id)
        if row is None:
            raise HubError("not_found", f"message {message_id} is not an approval request")
        return row.as_read

    async def list(
        self, who: Principal, *, pending_only: bool, after: int, limit: int
    ) -> list[Approval]:
        """The session's requests in id order; those whose time is up read `expired`
        (and are left out when `pending_only`), without a write, as in `get`."""
        require(who, "read")
        async with self._store.connection() as conn:
            rows = await approval_store.list_approvals(
                conn, who.session_id, pending_only=pending_only, after=after, limit=limit
            )
        return [row.as_read for row in rows]

    async def decide(
        self, who: Principal, message_id: int, decision: Decision, comment: str | None
    ) -> Approval:
        """Decide a request: `forbidden` unless an approver (not its requester);
        `not_found` if it is no request; `conflict` (carrying the decision) if it was
        decided or its time is up (it is then decided `expired`)."""
        approval, won = await self._settle(who.session_id, message_id, who, decision, comment)
        if not won or approval.status == "expired":
            raise _conflict(approval)
        return approval

    async def expire_overdue(self) -> int:
        """Decide `expired` the requests of every session whose time is up (at most a
        batch); how many this call decided."""
        async with self._store.connection() as conn:
            due = await approval_store.overdue(conn, SWEEP_BATCH)
        decided = 0
        for item in due:
            try:
                _, won = await self._settle(item.session_id, item.message_id, None, "expired", None)
            except HubError as exc:
                log.debug("could not expire %s/%d: %s", item.session_id, item.message_id, exc)
                if exc.code in _FINAL:  # never decidable now: stop reading it every sweep
                    async with self._store.connection() as conn:
                        await approval_store.forget_deadline(conn, item.session_id, item.message_id)
                continue
            decided += won
        return decided

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.expire_overdue()
            except HubError as exc:
                log.warning("approval sweep failed: %s", exc.message)
            except Exception:
                log.exception("approval sweep failed")

    async def _settle(
        self,
        session_id: str,
        message_id: int,
        who: Principal | None,
        decision: ApprovalStatus,
        comment: str | None,
    ) -> tuple[Approval, bool]:
        """Record a decision unless the request has one; the request as it ends up
        (the decision recorded here, or the one that was there first), and whether
        this call decided it. With `who`
        (a person deciding), checks they may; a request past its time is `expired`."""
        try:
            async with self._store.transaction() as conn:
                row = await approval_store.get_approval(conn, session_id, message_id)
                if row is None:
                    raise HubError("not_found", f"message {message_id} is not an approval request")
                if who is not None:
                    session = await session_store.get_session(conn, session_id)
                    may_decide(policy_of(session.metadata), who, row.approval.requester_id)
                if row.approval.status != "pending":
                    return row.approval, False
                if row.overdue:
                    decision, who, comment = "expired", None, None
                message = await _decision_message(conn, row.approval, decision, who, comment)
                recorded = await approval_store.record_decision(
                    conn,
                    session_id,
                    message_id,
                    decision=decision,
                    decided_by=who.participant_id if who else None,
                    decided_role=who.role if who else None,
                    comment=comment,
                    decision_message_id=message.id,
                )
                if not recorded:
                    raise _Lost
                refreshed = await approval_store.get_approval(conn, session_id, message_id)
                assert refreshed is not None
                event = ApprovalEvent(approval=refreshed.approval)
                await changes.record(
                    conn,
                    session_id,
                    who.participant_id if who else HUB_AUTHOR,
                    who.role if who else "system",
                    "approval.decided",
                    {
                        "message_id": message_id,
                        "decision": decision,
                        "decided_by": who.participant_id if who else None,
                        "decision_message_id": message.id,
                    },
                    outbox=("approval.decided", event),
                )
        except _Lost:
            async with self._store.connection() as conn:
                again = await approval_store.get_approval(conn, session_id, message_id)
            assert again is not None
            return again.approval, False
        await self._events.publish_messages([message])
        await self._events.publish(session_id, event)
        return refreshed.approval, True

    async def interrupt(
        self, who: Principal, target: str, reason: str
    ) -> tuple[Message, Interrupt]:
        """Ask agent `target` to stop: agent A and approvers may (`forbidden` for
        others; `bad_request` if that agent has not joined). Recorded as a system
        message (in one transaction with its `session.interrupted` activity row and its
        webhook outbox row, as a decision's), then an `interrupt` event."""
        async with self._store.connection() as conn:
            session = await session_store.get_session(conn, who.session_id)
        may_interrupt(policy_of(session.metadata), who)
        target_id = session.agent_a_id if target == "agent_a" else session.agent_b_id
        if target_id is None:
            raise HubError("bad_request", "agent B has not joined this session")
        interrupt = Interrupt(
            target="agent_a" if target == "agent_a" else "agent_b",
            target_id=target_id,
            by=who.participant_id,
            by_role=who.role,
            reason=reason,
        )
        metadata: dict[str, Any] = {"interrupt": msgspec.to_builtins(interrupt)}
        async with self._store.transaction() as conn:
            outcome = await message_batch.insert_batch(
                conn,
                [
                    NewMessage(
                        session_id=who.session_id,
                        author_id=HUB_AUTHOR,
                        author_role="system",
                        content=interrupt_content(interrupt, who.display_name),
                        msg_type="system",
                        metadata=metadata,
                    )
                ],
                logged=False,  # the interrupt's own row names it
            )
            (result,) = outcome.results
            if isinstance(result, HubError):
                raise result
            message, _ = result
            event = InterruptEvent(
                session_id=who.session_id, message_id=message.id, interrupt=interrupt
            )
            await changes.record_as(
                conn,
                who,
                "session.interrupted",
                {
                    "message_id": message.id,
                    "target": interrupt.target,
                    "target_id": interrupt.target_id,
                    "by": interrupt.by,
                    "reason": interrupt.reason,
                },
                outbox=("session.interrupted", event),
            )
        await self._events.publish_messages([message])
        await self._events.publish(who.session_id, event)
        return message, interrupt


async def _decision_message(
    conn: Any,
    approval: Approval,
    decision: ApprovalStatus,
    who: Principal | None,
    comment: str | None,
) -> Message:
    """Write the system message recording the decision, replying to the request; one
    per request (its `client_msg_id`): a second writer finds the first's and loses."""
    decided_by = who.participant_id if who else None
    shown_as = (who.display_name or who.participant_id) if who else None
    outcome = await message_batch.insert_batch(
        conn,
        [
            NewMessage(
                session_id=approval.session_id,
                author_id=HUB_AUTHOR,
                author_role="system",
                content=decision_content(decision, shown_as, comment),
                msg_type="system",
                metadata={
                    "approval": {
                        "message_id": approval.message_id,
                        "status": decision,
                        "decided_by": decided_by,
                        "comment": comment,
                    }
                },
                parent_id=approval.message_id,
                client_msg_id=f"approval-{approval.message_id}",
            )
        ],
        logged=False,  # the decision's own row names it
    )
    (result,) = outcome.results
    if isinstance(result, HubError):
        raise result
    message, duplicate = result
    if duplicate:
        raise _Lost
    return message


def _conflict(approval: Approval) -> HubError:
    if approval.status == "expired":
        return HubError("conflict", "the approval request expired", approval)
    return HubError("conflict", f"the approval request was already {approval.status}", approval)

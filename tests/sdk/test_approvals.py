"""The SDK asks for approval and waits for the decision; approvers decide (the second
gets `Conflict` carrying the first decision); a wait can end `pending` and be resumed;
an interrupt reaches the agent as an event."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestServer

from hub.client import Conflict, HubAPI, HubClientError, connect
from hub.protocol import InterruptEvent, MessageEvent

TIMEOUT = 10.0


async def test_request_approval_returns_the_decision(hub_server: TestServer) -> None:
    """Agent B's `request_approval` returns once an observer approves; agent A deciding
    afterwards gets `Conflict` with the observer's decision."""
    base = str(hub_server.make_url(""))
    async with HubAPI(base) as rest:
        created = await rest.create_session()
        joined = await rest.join(created.invite_code, agent_id="coder")
    async with (
        connect(base, joined.token) as coder,
        connect(base, created.observer_token) as human,
        connect(base, created.agent_token) as planner,
    ):
        asking = asyncio.create_task(
            coder.request_approval("Push to main", content="git push origin main")
        )
        async with asyncio.timeout(TIMEOUT):
            async for event in human:
                if isinstance(event, MessageEvent) and event.message.msg_type == "action":
                    request = event.message
                    break
        assert request.metadata["approval"]["description"] == "Push to main"
        assert [a.message_id for a in await human.approvals()] == [request.id]
        decided = await human.decide(request.id, "approved", "go ahead")
        approval = await asyncio.wait_for(asking, TIMEOUT)
        assert approval == decided
        assert (approval.status, approval.comment) == ("approved", "go ahead")
        with pytest.raises(Conflict) as lost:
            await planner.decide(request.id, "rejected")
        assert lost.value.approval == approval
        assert await human.approvals() == []


async def test_a_wait_ends_pending_and_can_wait_again(hub_server: TestServer) -> None:
    """With `within`, an undecided request comes back `pending`; waiting again returns
    the decision made meanwhile. The requester itself may not decide."""
    base = str(hub_server.make_url(""))
    async with HubAPI(base) as rest:
        created = await rest.create_session()
        await rest.join(created.invite_code, agent_id="coder")
    async with (
        connect(base, created.agent_token) as planner,
        connect(base, created.observer_token) as human,
    ):
        pending = await planner.request_approval("Spend $20", within=0.2)
        assert pending.status == "pending" and pending.requester_id == planner.you.participant_id
        with pytest.raises(HubClientError) as refused:
            await planner.decide(pending.message_id, "approved")
        assert refused.value.code == "forbidden"
        waiting = asyncio.create_task(planner.wait_for_approval(pending.message_id))
        await human.decide(pending.message_id, "rejected", "too much")
        final = await asyncio.wait_for(waiting, TIMEOUT)
        assert (final.status, final.comment) == ("rejected", "too much")


async def test_an_interrupt_reaches_the_agent(hub_server: TestServer) -> None:
    """Agent A interrupts agent B: B's session yields an `InterruptEvent` naming who
    and why."""
    base = str(hub_server.make_url(""))
    async with HubAPI(base) as rest:
        created = await rest.create_session()
        joined = await rest.join(created.invite_code, agent_id="coder")
    async with (
        connect(base, joined.token) as coder,
        connect(base, created.agent_token) as planner,
    ):
        message = await planner.interrupt("you are editing the wrong file")
        assert message.msg_type == "system"
        async with asyncio.timeout(TIMEOUT):
            async for event in coder:
                if isinstance(event, InterruptEvent):
                    break
        assert event.interrupt.target_id == "coder"
        assert event.interrupt.by == planner.you.participant_id
        assert event.interrupt.reason == "you are editing the wrong file"
        assert event.message_id == message.id


async def test_a_wait_ends_when_the_session_does(hub_server: TestServer) -> None:
    """A request nobody will decide (it expires in an hour) and the session is deleted:
    the waiting `wait_for_approval` raises `session_deleted` at once, and so does a new
    wait on it."""
    base = str(hub_server.make_url(""))
    async with HubAPI(base) as rest:
        created = await rest.create_session()
        await rest.join(created.invite_code, agent_id="coder")
        async with connect(base, created.agent_token) as planner:
            pending = await planner.request_approval("Spend $20", within=0)
            assert pending.status == "pending"
            waiting = asyncio.create_task(planner.wait_for_approval(pending.message_id))
            await rest.delete_session(created.session.id, created.agent_token)
            with pytest.raises(HubClientError) as ended:
                await asyncio.wait_for(waiting, TIMEOUT)
            assert ended.value.code == "session_deleted"
            with pytest.raises(HubClientError) as again:
                await asyncio.wait_for(planner.wait_for_approval(pending.message_id), TIMEOUT)
            assert again.value.code == "session_deleted"

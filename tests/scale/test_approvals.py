"""The first decision of an approval request wins exactly once across real `hub serve`
processes sharing PostgreSQL and Redis: concurrent deciders on both (websocket and
REST), and expiry by either process's sweeper racing late decisions."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import datetime
from typing import Any

from aiohttp import ClientSession

from tests.helpers import HubClient, Peer
from tests.scale.conftest import client_for

TIMEOUT = 30.0
_ids = itertools.count(1)


async def _ask(peer: Peer, expires_in: float) -> dict[str, Any]:
    answer = await peer.request(
        {
            "type": "send",
            "client_msg_id": f"ask-{next(_ids)}",
            "content": "git push --force",
            "msg_type": "action",
            "metadata": {"approval": {"description": "Force-push", "expires_in": expires_in}},
        }
    )
    assert answer["type"] == "ack", answer
    return answer["message"]  # type: ignore[no-any-return]


class Decider:
    """An observer deciding over the websocket of one process, or over its REST."""

    def __init__(self, client: HubClient, token: str, session_id: str, peer: Peer | None):
        self.client, self.token, self.session_id, self.peer = client, token, session_id, peer

    async def decide(self, message_id: int, decision: str) -> tuple[str, dict[str, Any]]:
        """`("ack", approval)` or `(code, approval)`, the same for both ways."""
        if self.peer is not None:
            got = await self.peer.request(
                {"type": "decide", "message_id": message_id, "decision": decision}
            )
            if got["type"] == "ack":
                return "ack", got["approval"]
            return got["code"], got.get("approval") or {}
        status, body = await self.client.call(
            "POST",
            f"/api/sessions/{self.session_id}/approvals/{message_id}/decision",
            token=self.token,
            json={"decision": decision},
        )
        if status == 200:
            return "ack", body
        return body["code"], body.get("approval") or {}


async def _cast(http: ClientSession, procs: list[Any], ways: int) -> dict[str, Any]:
    """A session made on the first process: B (the requester) and a watcher on each
    process, and `ways` observers deciding: by websocket or REST, on alternate
    processes."""
    one, two = (client_for(http, p) for p in procs)
    s = await one.session_with_b()
    b = await one.connect(s["b"])
    watchers = [await one.connect(s["obs"]), await two.connect(s["obs"])]
    deciders = []
    for i in range(ways):
        client = (one, two)[i % 2]
        status, joined = await client.join(s["invite"], role="observer", display_name=f"d{i}")
        assert status == 201, joined
        peer = await client.connect(joined["token"]) if i % 3 != 2 else None
        deciders.append(Decider(client, joined["token"], s["id"], peer))
    return {"s": s, "b": b, "watchers": watchers, "deciders": deciders, "one": one}


def _approvals(peer: Peer, message_id: int) -> list[dict[str, Any]]:
    return [
        f["approval"]
        for f in peer.frames
        if f["type"] == "approval" and f["approval"]["message_id"] == message_id
    ]


async def _one_outcome(cast: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """The request was decided once: one system message replies to it in the log, and
    every participant, on either process, got one `approval` event, the decision's.
    Returns the decision."""
    one: HubClient = cast["one"]
    s = cast["s"]
    status, decided = await one.call(
        "GET", f"/api/sessions/{s['id']}/approvals/{request['id']}", token=s["obs"]
    )
    assert status == 200 and decided["status"] != "pending", decided
    # a message after the decision: once a peer has it, it has every event before it
    after = await cast["b"].say("after the decision")
    assert after["type"] == "ack", after
    last = after["message"]["id"]
    peers = [cast["b"], *cast["watchers"], *(d.peer for d in cast["deciders"] if d.peer)]
    for peer in peers:
        await peer.wait(lambda p=peer: last in p.message_ids() and _approvals(p, request["id"]))
        assert _approvals(peer, request["id"]) == [decided], _approvals(peer, request["id"])
    log = await one.connect(s["obs"], since=request["id"] - 1)
    await log.wait(lambda: last in log.message_ids())
    replies = [
        f["message"]
        for f in log.frames
        if f["type"] == "message" and f["message"]["parent_id"] == request["id"]
    ]
    assert len(replies) == 1, replies
    assert replies[0]["author_role"] == "system"
    assert replies[0]["id"] == decided["decision_message_id"]
    assert replies[0]["metadata"]["approval"]["status"] == decided["status"]
    await log.close()
    return decided  # type: ignore[no-any-return]


async def test_concurrent_deciders_on_two_processes_decide_once(
    hubs: Any, http: ClientSession
) -> None:
    """Eight observers on two processes (websocket and REST) decide one request at
    once, several rounds: exactly one ack, the others `conflict` with the winning
    decision; one decision message; one `approval` event for everyone."""
    procs = await hubs(2)
    cast = await _cast(http, procs, 8)
    for round_ in range(3):
        request = await _ask(cast["b"], 600)
        answers = await asyncio.gather(
            *(
                d.decide(request["id"], "approved" if (i + round_) % 2 else "rejected")
                for i, d in enumerate(cast["deciders"])
            )
        )
        acks = [approval for code, approval in answers if code == "ack"]
        assert len(acks) == 1, answers
        won = acks[0]
        assert won["status"] in ("approved", "rejected") and won["decided_by"]
        assert [code for code, _ in answers].count("conflict") == len(answers) - 1, answers
        assert all(approval == won for _, approval in answers), answers
        assert await _one_outcome(cast, request) == won


async def test_expiry_on_either_process_races_late_deciders_once(
    hubs: Any, http: ClientSession
) -> None:
    """Both processes sweep often; deciders on both decide around the request's expiry.
    Whichever comes first (a decision, or `expired` by either sweeper or by a late
    decider) is the one outcome: at most one ack, and every refusal carries it."""
    procs = await hubs(2, HUB_APPROVAL_SWEEP_INTERVAL="0.05")
    cast = await _cast(http, procs, 6)
    loop = asyncio.get_running_loop()
    for round_ in range(4):
        request = await _ask(cast["b"], 1)
        status, pending = await cast["one"].call(
            "GET",
            f"/api/sessions/{cast['s']['id']}/approvals/{request['id']}",
            token=cast["s"]["obs"],
        )
        assert status == 200 and pending["status"] == "pending", pending
        expires = datetime.fromisoformat(pending["expires_at"]).timestamp()
        # deciders 30 ms apart around the expiry, by this clock (the processes share
        # it): in even rounds the first comes 30 ms before it, in odd rounds all come
        # after it, racing both sweepers to record `expired`
        first = (-1 if round_ % 2 == 0 else 1) * 0.03
        start = loop.time() + (expires - time.time()) + first

        async def late(i: int, d: Decider, rid: int = request["id"], at: float = start) -> Any:
            await asyncio.sleep(max(0.0, at + i * 0.03 - loop.time()))
            return await d.decide(rid, "approved")

        answers = await asyncio.gather(*(late(i, d) for i, d in enumerate(cast["deciders"])))
        decided = await _one_outcome(cast, request)
        acks = [approval for code, approval in answers if code == "ack"]
        assert len(acks) <= 1, answers
        if acks:
            assert acks[0] == decided and decided["status"] == "approved"
        else:
            assert decided["status"] == "expired" and decided["decided_by"] is None
        assert all(code in ("ack", "conflict") for code, _ in answers), answers
        assert all(approval == decided for _, approval in answers), answers

"""Approvals and interrupts over the websocket and REST: one decision wins under real
concurrent deciders (also through two hubs on one database), the policy says who may
decide, expiry is a decision, typed errors for everything, and interrupts reach the
agent (on both buses)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from hub.config import Config
from tests.helpers import HubClient, Peer

_ids = itertools.count(1)


async def ask(peer: Peer, description: str = "Delete build/", **approval: Any) -> dict[str, Any]:
    """Post an approval request (an `action` message); its acked message."""
    answer = await peer.request(
        {
            "type": "send",
            "client_msg_id": f"ask-{next(_ids)}",
            "content": "rm -rf build/",
            "msg_type": "action",
            "metadata": {"approval": {"description": description, **approval}},
        }
    )
    assert answer["type"] == "ack", answer
    return answer["message"]  # type: ignore[no-any-return]


async def observers(client: HubClient, s: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """Observers who joined with the invite code: their tokens and participant ids."""
    joined_all = []
    for i in range(count):
        status, joined = await client.join(s["invite"], role="observer", display_name=f"o{i}")
        assert status == 201, joined
        joined_all.append(joined)
    return joined_all


async def logged(client: HubClient, s: dict[str, Any], action: str) -> list[dict[str, Any]]:
    """The session's activity rows naming `action`."""
    status, body = await client.call("GET", f"/api/sessions/{s['id']}/activity", token=s["obs"])
    assert status == 200, body
    return [row for row in body["activity"] if row["action"] == action]


def decide(message_id: int, decision: str = "approved", **extra: Any) -> dict[str, Any]:
    return {"type": "decide", "message_id": message_id, "decision": decision, **extra}


async def test_the_first_of_concurrent_decisions_wins_once(client: HubClient) -> None:
    """Agent A and four observers decide one request at once: exactly one is acked,
    the others get `conflict` carrying the winning decision; one system message replies
    to the request, and the requester gets the `approval` event."""
    s = await client.session_with_b()
    b = await client.connect(s["b"])
    request = await ask(b, "Deploy to production", expires_in=600)
    assert request["metadata"]["approval"] == {
        "description": "Deploy to production",
        "expires_in": 600.0,
    }
    tokens = [s["a"], *[o["token"] for o in await observers(client, s, 4)]]
    deciders = [await client.connect(t) for t in tokens]
    answers = await asyncio.gather(
        *(
            peer.request(
                decide(request["id"], "approved" if i % 2 else "rejected", comment=f"c{i}")
            )
            for i, peer in enumerate(deciders)
        )
    )
    acks = [a for a in answers if a["type"] == "ack"]
    assert len(acks) == 1, answers
    won = acks[0]["approval"]
    assert won["status"] in ("approved", "rejected") and won["decided_by"]
    for lost in (a for a in answers if a["type"] == "error"):
        assert lost["code"] == "conflict", lost
        assert lost["approval"] == won
    event = await b.next("approval")
    assert event["approval"] == won
    decision = await b.wait(
        lambda: next(
            (
                f["message"]
                for f in b.frames
                if f["type"] == "message" and f["message"]["parent_id"] == request["id"]
            ),
            None,
        )
    )
    assert decision["id"] == won["decision_message_id"] == request["id"] + 1
    assert (decision["msg_type"], decision["author_role"]) == ("system", "system")
    assert decision["metadata"]["approval"]["status"] == won["status"]
    later = await b.say("after the decision")
    assert later["message"]["id"] == decision["id"] + 1, "ids stay gap-free"
    replayed = await client.connect(s["obs"], since=0)
    ids = replayed.message_ids()
    assert ids == list(range(1, len(ids) + 1)) and decision["id"] in ids
    (row,) = await logged(client, s, "approval.decided")
    assert (row["actor_id"], row["detail"]) == (
        won["decided_by"],
        {
            "message_id": request["id"],
            "decision": won["status"],
            "decided_by": won["decided_by"],
            "decision_message_id": decision["id"],
        },
    )
    sent = await logged(client, s, "message.sent")
    assert decision["id"] not in [i for r in sent for i in r["detail"]["message_ids"]]


async def test_two_hubs_on_one_database_decide_once(make_client: Any, config: Config) -> None:
    """Deciders spread over two hubs sharing PostgreSQL: one decision (and, when they
    share Redis, the requester on one hub hears of a decision made on the other)."""
    one: HubClient = await make_client()
    two: HubClient = await make_client()
    s = await one.session_with_b()
    b = await one.connect(s["b"])
    request = await ask(b)
    tokens = [s["a"], *[o["token"] for o in await observers(one, s, 5)]]
    deciders = [await (one if i % 2 else two).connect(t) for i, t in enumerate(tokens)]
    answers = await asyncio.gather(*(p.request(decide(request["id"])) for p in deciders))
    assert sorted(a["type"] for a in answers) == ["ack"] + ["error"] * 5, answers
    assert {a["code"] for a in answers if a["type"] == "error"} == {"conflict"}
    if config.redis_url is not None:
        await b.next("approval")


async def test_the_policy_says_who_decides(client: HubClient) -> None:
    """Under a policy naming one observer: the requester, agent B, another observer
    and a watch-only token are forbidden; the named observer decides."""
    s = await client.session_with_b()
    named, other = await observers(client, s, 2)
    policy = {"approvers": ["observers"], "observers": [named["participant_id"]]}
    status, body = await client.call(
        "PATCH", f"/api/sessions/{s['id']}", token=s["b"], json={"approval_policy": policy}
    )
    assert status == 403 and body["code"] == "forbidden", "agent A sets the policy"
    status, body = await client.call(
        "PATCH", f"/api/sessions/{s['id']}", token=s["a"], json={"approval_policy": policy}
    )
    assert status == 200 and body["metadata"]["approval_policy"] == policy
    a, b = await client.connect(s["a"]), await client.connect(s["b"])
    ann, bob = [await client.connect(o["token"]) for o in (named, other)]
    request = await ask(a)
    for peer in (a, b, bob):
        refused = await peer.request(decide(request["id"]))
        assert refused["code"] == "forbidden", refused
    ok = await ann.request(decide(request["id"], "rejected", comment="not now"))
    assert ok["type"] == "ack" and ok["approval"]["decided_by"] == named["participant_id"]
    assert ok["approval"]["comment"] == "not now"


async def test_the_requester_cannot_decide_and_defaults_apply(client: HubClient) -> None:
    """By default agent A and observers decide; agent B asking cannot decide its own
    request, and agent B is no approver."""
    s = await client.session_with_b()
    a, b = await client.connect(s["a"]), await client.connect(s["b"])
    mine = await ask(a)
    refused = await a.request(decide(mine["id"]))
    assert refused["code"] == "forbidden" and "requester" in refused["message"]
    refused = await b.request(decide(mine["id"]))
    assert refused["code"] == "forbidden"


async def test_unknown_requests_are_not_found(client: HubClient) -> None:
    """A message that asks no approval, and a message that does not exist: not_found."""
    s = await client.session_with_b()
    a, b = await client.connect(s["a"]), await client.connect(s["b"])
    chat = await b.say("hello")
    for message_id in (chat["message"]["id"], 999):
        refused = await a.request(decide(message_id))
        assert refused["code"] == "not_found", refused
    status, body = await client.call("GET", f"/api/sessions/{s['id']}/approvals/999", token=s["a"])
    assert status == 404 and body["code"] == "not_found"


async def test_malformed_requests_and_states_are_refused(client: HubClient) -> None:
    """An approval without a description, or open too long, and an unknown task state
    are `bad_request`; a known state is kept."""
    s = await client.session_with_b()
    b = await client.connect(s["b"])
    for approval in ({}, {"description": "x", "expires_in": 10**9}, {"description": "x", "who": 1}):
        refused = await b.request(
            {
                "type": "send",
                "client_msg_id": f"bad-{next(_ids)}",
                "content": "x",
                "msg_type": "action",
                "metadata": {"approval": approval},
            }
        )
        assert refused["code"] == "bad_request", refused
    refused = await b.say("busy", msg_type="status", metadata={"state": "sleeping"})
    assert refused["code"] == "bad_request" and "state" in refused["message"]
    ok = await b.say("on it", msg_type="status", metadata={"state": "input-required"})
    assert ok["message"]["metadata"] == {"state": "input-required"}
    assert not b.message_ids() or all(m for m in b.message_ids())
    status, body = await client.call(
        "POST", "/api/sessions", json={"metadata": {"approval_policy": {"approvers": ["all"]}}}
    )
    assert status == 400 and body["code"] == "bad_request"


async def test_expiry_is_a_decision_made_by_the_sweeper(make_client: Any) -> None:
    """A request nobody decides in time is decided `expired` by a hub's sweeper (a
    system message and the event); deciding it then gets `conflict` saying expired."""
    client: HubClient = await make_client(approval_sweep_interval=0.2)
    s = await client.session_with_b()
    a, b = await client.connect(s["a"]), await client.connect(s["b"])
    request = await ask(b, expires_in=1)
    event = await b.next("approval")
    assert event["approval"]["status"] == "expired" and event["approval"]["decided_by"] is None
    assert event["approval"]["message_id"] == request["id"]
    refused = await a.request(decide(request["id"]))
    assert refused["code"] == "conflict" and "expired" in refused["message"]
    assert refused["approval"]["status"] == "expired"
    (row,) = await logged(client, s, "approval.decided")
    assert (row["actor_id"], row["actor_role"]) == ("hub", "system")
    assert row["detail"]["decision"] == "expired" and row["detail"]["decided_by"] is None


async def test_expiry_is_decided_by_whoever_notices_first(make_client: Any) -> None:
    """Without a sweep in time, the first decision after the request's time records
    `expired` instead (conflict), and a read says so too."""
    client: HubClient = await make_client(approval_sweep_interval=3600.0)
    s = await client.session_with_b()
    a, b = await client.connect(s["a"]), await client.connect(s["b"])
    request = await ask(b, expires_in=1)
    status, pending = await client.call("GET", f"/api/sessions/{s['id']}/approvals", token=s["obs"])
    assert status == 200 and [p["message_id"] for p in pending["approvals"]] == [request["id"]]
    await asyncio.sleep(1.1)  # the request's own time has to pass: nothing to wait on
    refused = await a.request(decide(request["id"]))
    assert refused["code"] == "conflict" and refused["approval"]["status"] == "expired"
    event = await b.next("approval")
    assert event["approval"]["status"] == "expired"
    status, read = await client.call(
        "GET", f"/api/sessions/{s['id']}/approvals/{request['id']}", token=s["b"]
    )
    assert status == 200 and read["status"] == "expired"
    status, pending = await client.call("GET", f"/api/sessions/{s['id']}/approvals", token=s["a"])
    assert pending["approvals"] == []


async def test_rest_lists_and_decides(client: HubClient) -> None:
    """REST lists pending requests, decides one (200), and a second decision is 409
    with the first."""
    s = await client.session_with_b()
    b = await client.connect(s["b"])
    first, second = await ask(b, "one"), await ask(b, "two")
    base = f"/api/sessions/{s['id']}/approvals"
    status, listed = await client.call("GET", base, token=s["obs"])
    assert status == 200
    assert [(x["message_id"], x["description"], x["status"]) for x in listed["approvals"]] == [
        (first["id"], "one", "pending"),
        (second["id"], "two", "pending"),
    ]
    status, decided = await client.call(
        "POST", f"{base}/{first['id']}/decision", token=s["obs"], json={"decision": "approved"}
    )
    assert status == 200 and decided["status"] == "approved"
    status, again = await client.call(
        "POST", f"{base}/{first['id']}/decision", token=s["a"], json={"decision": "rejected"}
    )
    assert status == 409 and again["code"] == "conflict" and again["approval"] == decided
    status, listed = await client.call("GET", base, token=s["obs"])
    assert [x["message_id"] for x in listed["approvals"]] == [second["id"]]
    status, every = await client.call("GET", base, token=s["obs"], params={"status": "all"})
    assert [x["status"] for x in every["approvals"]] == ["approved", "pending"]
    status, body = await client.call(
        "POST", f"{base}/{second['id']}/decision", token=s["obs"], json={"decision": "maybe"}
    )
    assert status == 400 and body["code"] == "bad_request"


async def test_an_interrupt_reaches_the_agent(client: HubClient) -> None:
    """Agent A and an approving observer interrupt agent B: B gets `interrupt` events
    saying who and why, each recorded as a system message and one `session.interrupted`
    row; B itself may not."""
    s = await client.session_with_b()
    a, b, obs = [await client.connect(s[k]) for k in ("a", "b", "obs")]
    answer = await a.request({"type": "interrupt", "target": "agent_b", "reason": "wrong file"})
    assert answer["type"] == "ack" and answer["message"]["msg_type"] == "system"
    event = await b.next("interrupt")
    assert event["interrupt"]["target_id"] == "bee"
    assert event["interrupt"]["reason"] == "wrong file"
    assert event["message_id"] == answer["message"]["id"]
    assert event["interrupt"]["by_role"] == "agent_a"
    status, body = await client.call(
        "POST", f"/api/sessions/{s['id']}/interrupts", token=s["obs"], json={"reason": "stop"}
    )
    assert status == 201 and body["interrupt"]["by_role"] == "observer"
    second = await b.next("interrupt")
    assert second["interrupt"]["reason"] == "stop"
    refused = await b.request({"type": "interrupt", "target": "agent_a"})
    assert refused["code"] == "forbidden"
    await obs.wait(lambda: len([f for f in obs.frames if f["type"] == "interrupt"]) == 2)
    rows = await logged(client, s, "session.interrupted")
    assert [(r["actor_role"], r["detail"]) for r in rows] == [
        (
            "agent_a",
            {
                "message_id": answer["message"]["id"],
                "target": "agent_b",
                "target_id": "bee",
                "by": event["interrupt"]["by"],
                "reason": "wrong file",
            },
        ),
        (
            "observer",
            {
                "message_id": second["message_id"],
                "target": "agent_b",
                "target_id": "bee",
                "by": body["interrupt"]["by"],
                "reason": "stop",
            },
        ),
    ]

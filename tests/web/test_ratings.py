"""Ratings between the two verified agents of a completed session: once each (then
changed, never doubled), by nobody else, and aggregates that stay exact under many
concurrent raters."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from tests.helpers import HubClient
from tests.web.test_profiles import agent_key, new_agent, person


class Pair:
    """Two people, an agent each (with an agent key), and a completed session between
    the two agents."""

    ada: str
    bob: str
    a: dict[str, Any]
    b: dict[str, Any]
    a_key: str
    b_key: str
    session_id: str
    agent_token: str


async def shared_session(
    hub: HubClient, a: dict[str, Any], a_key: str, b_key: str, *, complete: bool = True
) -> tuple[str, str]:
    """A session agent A's key creates and agent B's key joins: (id, A's token)."""
    status, created = await hub.call("POST", "/api/sessions", token=a_key, json={})
    assert status == 201, created
    status, joined = await hub.call(
        "POST", "/api/join", token=b_key, json={"invite_code": created["invite_code"]}
    )
    assert status == 201, joined
    sid = created["session"]["id"]
    if complete:
        status, done = await hub.call(
            "PATCH",
            f"/api/sessions/{sid}",
            token=created["agent_token"],
            json={"status": "completed"},
        )
        assert status == 200, done
    return sid, created["agent_token"]


async def pair(hub: HubClient, *, complete: bool = True) -> Pair:
    p = Pair()
    p.ada, p.bob = await person(hub), await person(hub)
    p.a, p.b = await new_agent(hub, p.ada), await new_agent(hub, p.bob, visibility="public")
    p.a_key = (await agent_key(hub, p.ada, p.a["slug"]))["token"]
    p.b_key = (await agent_key(hub, p.bob, p.b["slug"]))["token"]
    p.session_id, p.agent_token = await shared_session(
        hub, p.a, p.a_key, p.b_key, complete=complete
    )
    return p


async def rate(hub: HubClient, sid: str, token: str, score: int, **more: Any) -> tuple[int, Any]:
    return await hub.call(
        "PUT", f"/api/sessions/{sid}/rating", token=token, json={"score": score, **more}
    )


async def profile(hub: HubClient, token: str, slug: str) -> Any:
    status, read = await hub.call("GET", f"/api/agents/{slug}", token=token)
    assert status == 200, read
    return read


async def test_each_agent_rates_the_other_once_and_may_change_it(
    client: HubClient, database_url: str
) -> None:
    """Agent A rates B (201), rates again (200: changed, not doubled); B's owner rates A
    with a user key naming B; the aggregates and the profile's ratings follow; each
    rating is audited for the rater's owner."""
    p = await pair(client)
    status, first = await rate(client, p.session_id, p.a_key, 2, review="slow to answer")
    assert status == 201, first
    assert (first["rater"], first["ratee"], first["score"]) == (p.a["slug"], p.b["slug"], 2)
    status, changed = await rate(client, p.session_id, p.a_key, 5, review="it got there")
    assert status == 200 and changed["score"] == 5
    status, back = await rate(client, p.session_id, p.bob, 4, as_agent=p.b["slug"])
    assert status == 201 and back["ratee"] == p.a["slug"]

    b = await profile(client, p.bob, p.b["slug"])
    assert (b["rating_count"], b["rating_mean"], b["rating_scores"]) == (1, 5.0, [0, 0, 0, 0, 1])
    a = await profile(client, p.ada, p.a["slug"])
    assert (a["rating_count"], a["rating_scores"]) == (1, [0, 0, 0, 1, 0])
    status, page = await client.call("GET", f"/api/agents/{p.b['slug']}/ratings", token=p.ada)
    assert status == 200 and [r["review"] for r in page["ratings"]] == ["it got there"]
    assert page["next"] is None
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT actor_kind, action FROM audit WHERE action LIKE 'rating.%'"
            " AND detail->>'session_id' = $1 ORDER BY id",
            p.session_id,
        )
    finally:
        await conn.close()
    assert [(r["actor_kind"], r["action"]) for r in rows] == [
        ("agent", "rating.given"),
        ("agent", "rating.changed"),
        ("user", "rating.given"),
    ]


async def test_nobody_else_rates(client: HubClient) -> None:
    """Refused: an observer or a session token, a third profile, the other's owner as
    the wrong agent, a session still active, a session with an unverified agent, a
    score out of 1-5, a review too long."""
    p = await pair(client)
    outsider = await person(client)
    third = await new_agent(client, outsider)
    third_key = (await agent_key(client, outsider, third["slug"]))["token"]
    status, answer = await rate(client, p.session_id, third_key, 5)
    assert (status, answer["code"]) == (403, "forbidden")
    status, answer = await rate(client, p.session_id, p.agent_token, 5)
    assert (status, answer["code"]) == (401, "unauthorized")
    status, answer = await rate(client, p.session_id, outsider, 5, as_agent=p.a["slug"])
    assert (status, answer["code"]) == (404, "not_found")
    for score in (0, 6):
        assert (await rate(client, p.session_id, p.a_key, score))[0] == 400
    assert (await rate(client, p.session_id, p.a_key, 3, review="x" * 2001))[0] == 400

    active = await pair(client, complete=False)
    status, answer = await rate(client, active.session_id, active.a_key, 5)
    assert (status, answer["code"]) == (409, "invalid_transition")

    status, created = await client.call("POST", "/api/sessions", token=p.a_key, json={})
    code = created["invite_code"]
    assert (await client.join(code, agent_id="free-typed"))[0] == 201
    status, done = await client.call(
        "PATCH",
        f"/api/sessions/{created['session']['id']}",
        token=created["agent_token"],
        json={"status": "completed"},
    )
    assert status == 200, done
    status, answer = await rate(client, created["session"]["id"], p.a_key, 5)
    assert (status, answer["code"]) == (403, "forbidden")
    b = await profile(client, p.bob, p.b["slug"])
    assert b["rating_count"] == 0


async def test_aggregates_stay_exact_under_concurrent_raters(client: HubClient) -> None:
    """Twelve agents rate one agent at once, each from its own completed session with
    it, and re-rate at once: the count, mean and distribution are exactly the scores'."""
    star_owner = await person(client)
    star = await new_agent(client, star_owner, visibility="public")
    star_key = (await agent_key(client, star_owner, star["slug"]))["token"]
    raters = []
    for _ in range(12):
        owner = await person(client)
        agent = await new_agent(client, owner)
        key = (await agent_key(client, owner, agent["slug"]))["token"]
        sid, _ = await shared_session(client, agent, key, star_key)
        raters.append((sid, key))
    scores = [1 + i % 5 for i in range(12)]
    results = await asyncio.gather(
        *(rate(client, sid, key, score) for (sid, key), score in zip(raters, scores, strict=True))
    )
    assert [status for status, _ in results] == [201] * 12
    rescored = [5 - i % 5 for i in range(12)]
    again = [rate(client, sid, key, s) for (sid, key), s in zip(raters, rescored, strict=True)]
    twice = [rate(client, sid, key, s) for (sid, key), s in zip(raters, rescored, strict=True)]
    results = await asyncio.gather(*again, *twice)
    assert sorted(status for status, _ in results) == [200] * 24
    read = await profile(client, star_owner, star["slug"])
    expected = [rescored.count(score) for score in range(1, 6)]
    assert read["rating_count"] == 12 and read["rating_scores"] == expected
    assert abs(read["rating_mean"] - sum(rescored) / 12) < 1e-9
    status, page = await client.call(
        "GET", f"/api/agents/{star['slug']}/ratings", token=star_owner, params={"limit": 5}
    )
    seen = list(page["ratings"])
    while page["next"]:
        status, page = await client.call(
            "GET",
            f"/api/agents/{star['slug']}/ratings",
            token=star_owner,
            params={"limit": 5, "cursor": page["next"]},
        )
        assert status == 200
        seen += page["ratings"]
    assert sorted(r["session_id"] for r in seen) == sorted(sid for sid, _ in raters)


async def test_only_an_operator_deletes_a_rating_and_the_aggregates_follow(
    client: HubClient, database_url: str
) -> None:
    """No route withdraws a rating (DELETE answers 405, even to its rater); `hub ratings
    delete` does: the ratee's count, mean and distribution follow, the other rating
    stays, and both owners' audit logs say an operator did it; a second delete is one
    `not_found` line (exit 1)."""
    from tests.web.test_secrets import hub_cli

    p = await pair(client)
    assert (await rate(client, p.session_id, p.a_key, 2))[0] == 201
    assert (await rate(client, p.session_id, p.b_key, 5))[0] == 201
    for token in (p.a_key, p.ada):
        status, _ = await client.call("DELETE", f"/api/sessions/{p.session_id}/rating", token=token)
        assert status == 405

    env = {"HUB_DATABASE_URL": database_url}
    sid, a, b = p.session_id, p.a["slug"], p.b["slug"]
    code, out, err = await hub_cli("ratings", "delete", sid, a.upper(), env=env)
    assert (code, err) == (0, "")
    said = f"hub: deleted the rating {a} gave {b} in {sid} (score 2); {b}'s aggregates follow"
    assert out == said + "\n"
    read = await profile(client, p.bob, b)
    assert (read["rating_count"], read["rating_mean"], read["rating_scores"]) == (
        0,
        None,
        [0, 0, 0, 0, 0],
    )
    read = await profile(client, p.ada, a)
    assert (read["rating_count"], read["rating_scores"]) == (1, [0, 0, 0, 0, 1])
    status, page = await client.call("GET", f"/api/agents/{b}/ratings", token=p.bob)
    assert status == 200 and page["ratings"] == []

    owners = [(await client.call("GET", "/api/me", token=t))[1]["id"] for t in (p.ada, p.bob)]
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT user_id, actor_kind, actor_id, detail FROM audit"
            " WHERE action = 'rating.deleted' AND detail->>'session_id' = $1 ORDER BY id",
            sid,
        )
    finally:
        await conn.close()
    assert [(r["user_id"], r["actor_kind"], r["actor_id"]) for r in rows] == [
        (owners[0], "system", "operator"),
        (owners[1], "system", "operator"),
    ]
    code, out, err = await hub_cli("ratings", "delete", sid, a, env=env)
    assert (code, out) == (1, "")
    assert err == f"hub: not_found: agent {a!r} gave no rating in {sid}\n"

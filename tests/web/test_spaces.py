"""Spaces: members by role (owner, member, viewer), sessions created in a space by a
member's verified agents, watched by any member without an invite, listed per space,
moved between spaces, and archived spaces whose sessions stay readable. To a
non-member a space does not exist; a space always keeps an owner, even when owners
demote each other at the same moment."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from tests.helpers import HubClient
from tests.web.test_profiles import agent_key, new_agent, person


def fresh_space() -> str:
    return "space-" + secrets.token_hex(4)


async def username(hub: HubClient, token: str) -> str:
    status, me = await hub.call("GET", "/api/me", token=token)
    assert status == 200
    return str(me["username"])


async def new_space(hub: HubClient, token: str, **more: Any) -> dict[str, Any]:
    status, made = await hub.call(
        "POST", "/api/spaces", token=token, json={"slug": fresh_space(), "name": "Lab", **more}
    )
    assert status == 201, made
    return made  # type: ignore[no-any-return]


async def add(hub: HubClient, token: str, slug: str, who: str, role: str) -> tuple[int, Any]:
    return await hub.call(
        "PUT", f"/api/spaces/{slug}/members/{who}", token=token, json={"role": role}
    )


async def verified_agent(hub: HubClient, token: str) -> str:
    """A new agent of this person's, and an agent key for it."""
    agent = await new_agent(hub, token)
    return str((await agent_key(hub, token, agent["slug"]))["token"])


async def test_a_space_and_its_members_by_role(client: HubClient) -> None:
    ada, bob, cy, dee = [await person(client) for _ in range(4)]
    bob_name, cy_name, dee_name = [await username(client, t) for t in (bob, cy, dee)]
    space = await new_space(client, ada, description="protein work")
    slug = space["slug"]
    assert (space["role"], space["member_count"], space["archived_at"]) == ("owner", 1, None)
    assert space["id"].startswith("spc_")

    status, error = await client.call(
        "POST", "/api/spaces", token=bob, json={"slug": slug.upper(), "name": "Mine"}
    )
    assert (status, error["code"]) == (409, "conflict")
    status, error = await client.call(
        "POST", "/api/spaces", token=bob, json={"slug": "spc_lookalike", "name": "x"}
    )
    assert (status, error["code"]) == (400, "bad_request")

    assert (await add(client, ada, slug, bob_name, "member"))[0] == 201
    assert (await add(client, ada, slug, cy_name.upper(), "viewer"))[0] == 201
    status, changed = await add(client, ada, slug, cy_name, "viewer")
    assert (status, changed["role"]) == (200, "viewer")
    status, error = await add(client, ada, slug, "nobody-" + secrets.token_hex(4), "member")
    assert (status, error["code"]) == (404, "not_found")
    status, error = await add(client, ada, slug, dee_name, "admin")
    assert (status, error["code"]) == (400, "bad_request")

    for token, code in ((bob, "forbidden"), (cy, "forbidden"), (dee, "not_found")):
        status, error = await add(client, token, slug, dee_name, "member")
        assert error["code"] == code, (token, error)
    status, listed = await client.call("GET", f"/api/spaces/{slug}/members", token=cy)
    assert [(m["username"], m["role"]) for m in listed["members"]] == [
        (await username(client, ada), "owner"),
        (bob_name, "member"),
        (cy_name, "viewer"),
    ]
    for path in (f"/api/spaces/{slug}", f"/api/spaces/{space['id']}"):
        status, seen = await client.call("GET", path, token=bob)
        assert (status, seen["role"], seen["member_count"]) == (200, "member", 3)
        status, error = await client.call("GET", path, token=dee)
        assert (status, error["code"]) == (404, "not_found")
    status, mine = await client.call("GET", "/api/spaces", token=cy)
    assert [(s["slug"], s["role"]) for s in mine["spaces"]] == [(slug, "viewer")]
    status, error = await client.call(
        "PATCH", f"/api/spaces/{slug}", token=bob, json={"name": "Bob's"}
    )
    assert (status, error["code"]) == (403, "forbidden")
    status, renamed = await client.call(
        "PATCH", f"/api/spaces/{slug}", token=ada, json={"name": "Folding lab"}
    )
    assert (status, renamed["name"]) == (200, "Folding lab")

    # The last owner stays: not demoted, not removed, cannot leave.
    ada_name = await username(client, ada)
    status, error = await add(client, ada, slug, ada_name, "member")
    assert (status, error["code"]) == (409, "conflict")
    status, error = await client.call("DELETE", f"/api/spaces/{slug}/members/{ada_name}", token=ada)
    assert (status, error["code"]) == (409, "conflict")
    # A viewer leaves; a member cannot remove another; an owner can.
    status, _ = await client.call("DELETE", f"/api/spaces/{slug}/members/{cy_name}", token=cy)
    assert status == 204
    assert (await client.call("GET", f"/api/spaces/{slug}", token=cy))[0] == 404
    status, error = await client.call("DELETE", f"/api/spaces/{slug}/members/{ada_name}", token=bob)
    assert (status, error["code"]) == (403, "forbidden")
    status, _ = await client.call("DELETE", f"/api/spaces/{slug}/members/{bob_name}", token=ada)
    assert status == 204
    status, error = await client.call("DELETE", f"/api/spaces/{slug}/members/{bob_name}", token=ada)
    assert (status, error["code"]) == (404, "not_found")


async def test_owners_demoting_each_other_at_once_leave_one_owner(client: HubClient) -> None:
    """In each of ten spaces with two owners, both demote the other at the same moment:
    exactly one wins (200), the other gets `conflict`, and one owner remains."""
    ada, bob = await person(client), await person(client)
    ada_name, bob_name = await username(client, ada), await username(client, bob)
    slugs = []
    for _ in range(10):
        slug = (await new_space(client, ada))["slug"]
        assert (await add(client, ada, slug, bob_name, "owner"))[0] == 201
        slugs.append(slug)
    answers = await asyncio.gather(
        *(
            call
            for slug in slugs
            for call in (
                add(client, ada, slug, bob_name, "member"),
                add(client, bob, slug, ada_name, "member"),
            )
        )
    )
    for i, slug in enumerate(slugs):
        pair = sorted(status for status, _ in answers[2 * i : 2 * i + 2])
        assert pair in ([200, 403], [200, 409]), pair  # the loser is no owner any more
        status, listed = await client.call("GET", f"/api/spaces/{slug}/members", token=ada)
        assert status == 200, listed
        owners = [m for m in listed["members"] if m["role"] == "owner"]
        assert len(owners) == 1, listed


async def test_sessions_in_a_space(client: HubClient) -> None:
    """A member's verified agent creates sessions in the space; a viewer's, an
    outsider's and a free-typed agent cannot. Any member lists them and watches one
    without an invite; an outsider finds neither the list nor the session. An archived
    space takes no new session, but its sessions stay readable and listed."""
    ada, bob, cy, dee = [await person(client) for _ in range(4)]
    space = await new_space(client, ada)
    slug = space["slug"]
    assert (await add(client, ada, slug, await username(client, bob), "member"))[0] == 201
    assert (await add(client, ada, slug, await username(client, cy), "viewer"))[0] == 201
    bob_key, cy_key, dee_key = [await verified_agent(client, t) for t in (bob, cy, dee)]

    status, first = await client.call(
        "POST", "/api/sessions", token=bob_key, json={"workspace_id": slug, "name": "one"}
    )
    assert status == 201, first
    assert first["session"]["workspace_id"] == space["id"]
    status, second = await client.call(
        "POST", "/api/sessions", token=bob_key, json={"workspace_id": space["id"]}
    )
    assert status == 201, second
    refusals = (
        (cy_key, 403, "forbidden"),
        (dee_key, 404, "not_found"),
        (None, 403, "forbidden"),
    )
    for token, status_code, code in refusals:
        status, error = await client.call(
            "POST", "/api/sessions", token=token, json={"workspace_id": slug}
        )
        assert (status, error["code"]) == (status_code, code), error

    ids = [second["session"]["id"], first["session"]["id"]]
    for token in (ada, bob, cy):
        status, page = await client.call("GET", f"/api/spaces/{slug}/sessions", token=token)
        assert [s["id"] for s in page["sessions"]] == ids
    status, page = await client.call(
        "GET", f"/api/spaces/{slug}/sessions", token=ada, params={"limit": "1"}
    )
    status, rest = await client.call(
        "GET",
        f"/api/spaces/{slug}/sessions",
        token=ada,
        params={"limit": "1", "cursor": page["next"]},
    )
    assert [s["id"] for s in page["sessions"] + rest["sessions"]] == ids
    status, error = await client.call("GET", f"/api/spaces/{slug}/sessions", token=dee)
    assert (status, error["code"]) == (404, "not_found")

    status, watched = await client.call("POST", f"/api/sessions/{ids[1]}/watch", token=cy)
    assert status == 201, watched
    status, read = await client.call("GET", f"/api/sessions/{ids[1]}", token=watched["token"])
    assert (status, read["name"]) == (200, "one")
    status, error = await client.call("POST", f"/api/sessions/{ids[1]}/watch", token=dee)
    assert (status, error["code"]) == (404, "session_not_found")

    status, archived = await client.call(
        "PATCH", f"/api/spaces/{slug}", token=ada, json={"archived": True}
    )
    assert status == 200 and archived["archived_at"] is not None
    status, error = await client.call(
        "POST", "/api/sessions", token=bob_key, json={"workspace_id": slug}
    )
    assert (status, error["code"]) == (403, "forbidden")
    status, read = await client.call("GET", f"/api/sessions/{ids[1]}", token=first["agent_token"])
    assert status == 200
    status, page = await client.call("GET", f"/api/spaces/{slug}/sessions", token=cy)
    assert [s["id"] for s in page["sessions"]] == ids
    status, mine = await client.call("GET", "/api/spaces", token=ada)
    assert [s["archived_at"] is not None for s in mine["spaces"]] == [True]
    status, _ = await client.call(
        "PATCH", f"/api/spaces/{slug}", token=ada, json={"archived": False}
    )
    status, again = await client.call(
        "POST", "/api/sessions", token=bob_key, json={"workspace_id": slug}
    )
    assert status == 201, again


async def test_moving_a_session_between_spaces(client: HubClient) -> None:
    """The owner of a session's verified agent A moves it into a space where they are a
    member; everyone connected sees the session change, and the activity log says so.
    Only an owner of its space moves it on or out; an archived space or a space one is
    only a viewer of takes nothing; a stranger finds no such session."""
    ada, bob, eve = [await person(client) for _ in range(3)]
    ada_key = await verified_agent(client, ada)
    lab = await new_space(client, bob)
    other = await new_space(client, ada)
    frozen = await new_space(client, ada)
    ada_name = await username(client, ada)
    assert (await add(client, bob, lab["slug"], ada_name, "member"))[0] == 201
    status, created = await client.call("POST", "/api/sessions", token=ada_key, json={})
    sid = created["session"]["id"]
    peer = await client.connect(created["observer_token"])

    move = f"/api/sessions/{sid}/space"
    status, moved = await client.call("PUT", move, token=ada, json={"space": lab["slug"]})
    assert (status, moved["workspace_id"]) == (200, lab["id"]), moved
    event = await peer.next("session")
    assert event["session"]["workspace_id"] == lab["id"]
    status, activity = await client.call(
        "GET", f"/api/sessions/{sid}/activity", token=created["agent_token"]
    )
    row = activity["activity"][-1]
    assert (row["action"], row["actor_id"], row["detail"]) == (
        "session.moved",
        ada_name,
        {"from": None, "to": lab["id"]},
    )

    # Ada is only a member of the lab now holding it: she may not move it on.
    status, error = await client.call("PUT", move, token=ada, json={"space": other["slug"]})
    assert (status, error["code"]) == (403, "forbidden")
    status, error = await client.call("PUT", move, token=eve, json={"space": None})
    assert (status, error["code"]) == (404, "session_not_found")
    # Bob owns the lab but is no member of Ada's space; into it he may not move it.
    status, error = await client.call("PUT", move, token=bob, json={"space": other["slug"]})
    assert (status, error["code"]) == (404, "not_found")
    status, out = await client.call("PUT", move, token=bob, json={"space": None})
    assert (status, out["workspace_id"]) == (200, None)
    status, _ = await client.call(
        "PATCH", f"/api/spaces/{frozen['slug']}", token=ada, json={"archived": True}
    )
    status, error = await client.call("PUT", move, token=ada, json={"space": frozen["slug"]})
    assert (status, error["code"]) == (403, "forbidden")
    status, moved = await client.call("PUT", move, token=ada, json={"space": other["id"]})
    assert (status, moved["workspace_id"]) == (200, other["id"])
    status, page = await client.call("GET", f"/api/spaces/{other['slug']}/sessions", token=ada)
    assert [s["id"] for s in page["sessions"]] == [sid]
    status, page = await client.call("GET", f"/api/spaces/{lab['slug']}/sessions", token=bob)
    assert page["sessions"] == []

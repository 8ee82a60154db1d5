"""Full-text search over session names and message content: ranked (a session whose
name and messages match more comes first), with snippets as segments (never markup),
scoped strictly to what the caller may read, in exact keyset pages, and safe against
nasty queries."""

from __future__ import annotations

import secrets
from typing import Any

from tests.helpers import HubClient
from tests.web.test_profiles import agent_key, new_agent, person


def word() -> str:
    """A word no other test's sessions hold (the database outlives a test)."""
    return "zq" + secrets.token_hex(5)


async def search(hub: HubClient, token: str | None = None, **params: str) -> dict[str, Any]:
    status, page = await hub.call("GET", "/api/search", token=token, params=params)
    assert status == 200, page
    return page  # type: ignore[no-any-return]


async def found(hub: HubClient, token: str | None = None, **params: str) -> list[str]:
    return [r["session"]["id"] for r in (await search(hub, token, **params))["results"]]


async def session_with(
    hub: HubClient, *contents: str, key: str | None = None, **body: Any
) -> dict[str, Any]:
    """A session (made with `key` if given) holding these messages, in order."""
    status, created = await hub.call("POST", "/api/sessions", token=key, json=body)
    assert status == 201, created
    sid = created["session"]["id"]
    for i, content in enumerate(contents):
        status, sent = await hub.call(
            "POST",
            f"/api/sessions/{sid}/messages",
            token=created["agent_token"],
            json={"content": content, "client_msg_id": f"m{i}"},
        )
        assert status == 201, sent
    return created  # type: ignore[no-any-return]


def text_of(segments: list[dict[str, Any]]) -> str:
    return "".join(s["text"] for s in segments)


def hits(segments: list[dict[str, Any]]) -> list[str]:
    return [s["text"] for s in segments if s["hit"]]


async def test_sessions_matching_more_rank_first_with_segment_snippets(client: HubClient) -> None:
    """The session whose name and several messages match ranks first, then the one whose
    name alone matches, then the one with a single matching message; names and snippets
    come as segments marking the matched words, never as markup (tags in a message are
    left out of its snippet)."""
    w = word()
    best = await session_with(
        client,
        f"we talked about {w} at length",
        "nothing here",
        f"the {w} plan, and more {w}",
        is_private=False,
        name=f"All about {w}",
    )
    named = await session_with(client, "unrelated", is_private=False, name=f"{w} notes")
    said = await session_with(
        client, f"<script>alert(1)</script> one {w} mention", is_private=False, name="Other"
    )
    page = await search(client, q=w)
    ids = [r["session"]["id"] for r in page["results"]]
    assert ids == [best["session"]["id"], named["session"]["id"], said["session"]["id"]]
    assert page["next"] is None
    scores = [r["score"] for r in page["results"]]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0

    top, by_name, by_message = page["results"]
    assert (top["matches"], by_name["matches"], by_message["matches"]) == (2, 0, 1)
    assert text_of(top["name"]) == f"All about {w}" and hits(top["name"]) == [w]
    assert [m["id"] for m in top["messages"]] == [3, 1]  # the better match first
    assert hits(top["messages"][0]["snippet"]) == [w, w]
    assert hits(by_name["name"]) == [w] and by_name["messages"] == []
    assert text_of(by_message["name"]) == "Other" and hits(by_message["name"]) == []
    (message,) = by_message["messages"]
    # PostgreSQL's parser leaves tags out of a headline; the rest is the text as it is
    assert text_of(message["snippet"]) == f" alert(1)  one {w} mention"
    assert hits(message["snippet"]) == [w]

    # english stemming: plurals and inflections find the word
    other = word()
    plural = await session_with(client, f"{other}: she gardens", is_private=False)
    assert await found(client, q=f"{other} gardening") == [plural["session"]["id"]]
    assert await found(client, q=f'"{w} plan"') == [best["session"]["id"]]
    negated = {
        r["session"]["id"]: r["matches"] for r in (await search(client, q=f"{w} -plan"))["results"]
    }
    assert negated[best["session"]["id"]] == 1  # its message 3 says "plan"


async def test_search_sees_only_what_the_caller_may_read(client: HubClient) -> None:
    """Private sessions never appear in public search, with a key or without; `mine`
    finds one's own private sessions and nobody else's; a space's sessions are found by
    its members (a viewer too) and by nobody else, to whom the space does not exist;
    `mine` and `space` need a user key."""
    w = word()
    ada, bob, cyd = await person(client), await person(client), await person(client)
    a = await new_agent(client, ada)
    a_key = (await agent_key(client, ada, a["slug"]))["token"]
    slug = "s" + secrets.token_hex(5)
    status, _ = await client.call(
        "POST", "/api/spaces", token=ada, json={"slug": slug, "name": "Lab"}
    )
    assert status == 201
    status, _ = await client.call(
        "PUT",
        f"/api/spaces/{slug}/members/{await username(client, cyd)}",
        token=ada,
        json={"role": "viewer"},
    )
    assert status == 201
    own = await session_with(client, f"my own {w}", key=a_key)
    spaced = await session_with(client, f"our {w}", key=a_key, workspace_id=slug)
    public = await session_with(client, f"everyone's {w}", is_private=False)
    deleted = await session_with(client, f"gone {w}", is_private=False)
    status, _ = await client.call(
        "DELETE", f"/api/sessions/{deleted['session']['id']}", token=deleted["agent_token"]
    )
    assert status == 204
    await session_with(client, f"someone else's {w}")  # private, nobody's

    for token in (None, ada, bob):
        assert await found(client, token, q=w) == [public["session"]["id"]]
        assert await found(client, token, q=w, scope="public") == [public["session"]["id"]]
    assert set(await found(client, ada, q=w, scope="mine")) == {
        own["session"]["id"],
        spaced["session"]["id"],
    }
    assert await found(client, bob, q=w, scope="mine") == []
    for member in (ada, cyd):
        assert await found(client, member, q=w, scope="space", space=slug) == [
            spaced["session"]["id"]
        ]
    status, error = await client.call(
        "GET", "/api/search", token=bob, params={"q": w, "scope": "space", "space": slug}
    )
    assert (status, error["code"]) == (404, "not_found")
    for scope in ({"scope": "mine"}, {"scope": "space", "space": slug}):
        status, error = await client.call("GET", "/api/search", params={"q": w, **scope})
        assert (status, error["code"]) == (401, "unauthorized")
    status, error = await client.call(
        "GET", "/api/search", token="usr_" + "x" * 40, params={"q": w}
    )
    assert (status, error["code"]) == (401, "unauthorized")


async def username(hub: HubClient, token: str) -> str:
    status, me = await hub.call("GET", "/api/me", token=token)
    assert status == 200, me
    return str(me["username"])


async def test_search_filters_and_pages_exactly(client: HubClient) -> None:
    """Seven sessions that match equally come back over pages of two, none twice and none
    missing; the list filters narrow a search too."""
    w = word()
    made = [
        (await session_with(client, f"same {w}", is_private=False, mode=mode))["session"]["id"]
        for mode in ("async", "realtime") * 3 + ("async",)
    ]
    seen: list[str] = []
    cursor = None
    scores = set()
    for _ in range(10):
        params = {"q": w, "limit": "2"} | ({"cursor": cursor} if cursor else {})
        page = await search(client, **params)
        assert len(page["results"]) <= 2
        seen += [r["session"]["id"] for r in page["results"]]
        scores |= {r["score"] for r in page["results"]}
        cursor = page["next"]
        if cursor is None:
            break
    assert len(scores) == 1
    assert seen == sorted(made, reverse=True)
    realtime = await found(client, q=w, mode="realtime", limit="50")
    assert realtime == sorted(made[1:6:2], reverse=True)
    assert await found(client, q=w, created_before="2000-01-01T00:00:00Z") == []


async def test_nasty_queries_are_refused_or_found_nothing(client: HubClient) -> None:
    """Empty, blank, too long, NUL and control characters, bad scopes, limits and cursors:
    `bad_request`. Query syntax, stop words alone, markup and odd Unicode: an answer,
    never a server error."""
    refused = [
        {},
        {"q": ""},
        {"q": "   \t  "},
        {"q": "x" * 201},
        {"q": "a\x00b"},
        {"q": "a\x01b"},
        {"q": "a\x7fb"},
        {"q": "ok", "scope": "everything"},
        {"q": "ok", "scope": "space"},
        {"q": "ok", "space": "lab-one"},
        {"q": "ok", "limit": "51"},
        {"q": "ok", "cursor": "bm90IGEgY3Vyc29y"},
        {"q": "ok", "cursor": "bmFufHNlc194"},  # "nan|ses_x"
        {"q": "ok", "created_after": "2024-01-01T00:00:00"},
    ]
    for params in refused:
        status, error = await client.call("GET", "/api/search", params=params)
        assert (status, error["code"]) == (400, "bad_request"), (params, error)
    odd = [
        "the",
        "!!! & | :* ( ) <-> '",
        '"unclosed phrase',
        "or or or - - -",
        "<b>bold</b>",
        "a\tb\nc",
        "x" * 200,
        "\ufb01 \U0001d518\U0001d52b \u202e backwards \U0001f600",
        "\\' ; DROP TABLE sessions; --",
    ]
    for q in odd:
        status, page = await client.call("GET", "/api/search", params={"q": q})
        assert status == 200, (q, page)

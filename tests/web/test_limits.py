"""Abuse limits: session creation per address, websockets per participant, invite
redemption per address and hub-wide; every count shared by the processes on one Redis."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import msgspec
import pytest

from hub.config import Config
from tests.helpers import HubClient

_addresses = itertools.count(1)


def fresh_address() -> str:
    """A client address no other test uses (the buckets in Redis outlive a test)."""
    n = next(_addresses)
    return f"198.51.{n // 250}.{n % 250 + 1}"


async def post(
    hub: HubClient, path: str, body: dict[str, Any], forwarded: str | None = None
) -> tuple[int, Any, Any]:
    """POST JSON, optionally with an X-Forwarded-For; returns (status, body, headers)."""
    headers = {"Content-Type": "application/json"}
    if forwarded is not None:
        headers["X-Forwarded-For"] = forwarded
    async with hub.http.post(
        hub.base + path, data=msgspec.json.encode(body), headers=headers
    ) as resp:
        return resp.status, msgspec.json.decode(await resp.read()), resp.headers


def shared_redis(config: Config) -> None:
    if config.redis_url is None:
        pytest.skip("processes share counts only through Redis")


# --- session creation ------------------------------------------------------------------


async def test_session_creation_is_rate_limited_per_address(make_client: Any) -> None:
    """Past the per-address budget, creating a session answers 429 `rate_limited` with a
    Retry-After; another address still creates."""
    hub: HubClient = await make_client(session_creations_per_minute=3, trusted_proxies="127.0.0.1")
    mine, other = fresh_address(), fresh_address()
    for _ in range(3):
        assert (await post(hub, "/api/sessions", {}, mine))[0] == 201
    status, body, headers = await post(hub, "/api/sessions", {}, mine)
    assert (status, body["code"]) == (429, "rate_limited")
    assert 1 <= int(headers["Retry-After"]) <= 20
    assert (await post(hub, "/api/sessions", {}, other))[0] == 201
    assert await hub.metric("hub_rate_limited_total", limit="create") == "1"


async def test_two_processes_together_allow_only_the_creation_limit(
    make_client: Any, config: Config
) -> None:
    """Two hubs on one Redis count one address's session creations together."""
    shared_redis(config)
    settings = {"session_creations_per_minute": 4, "trusted_proxies": "127.0.0.1"}
    one: HubClient = await make_client(**settings)
    two: HubClient = await make_client(**settings)
    address = fresh_address()
    statuses = [(await post(hub, "/api/sessions", {}, address))[0] for hub in (one, two) * 3]
    assert statuses == [201, 201, 201, 201, 429, 429]


# --- websockets per participant ----------------------------------------------------------


async def connect_once_freed(hub: HubClient, token: str) -> Any:
    """Connect as a client told 4009 does: retry until the slot of a connection it just
    closed is free. The hub releases the slot after its side of the close handshake, so
    the first retry may still find it taken (within the test's timeout, never forever)."""
    async with asyncio.timeout(10):
        while True:
            peer = await hub.connect(token, hello=False)
            first = await peer.wait(lambda: peer.frames[:1])  # noqa: B023
            if first[0]["type"] == "hello":
                return peer
            assert first[0]["code"] == "rate_limited", first
            assert await peer.closed() == 4009


async def test_a_participant_holds_at_most_so_many_websockets(make_client: Any) -> None:
    """One token opens at most the configured number of websockets; the next gets an
    error `rate_limited` and close 4009; another participant is unaffected, and a slot
    frees when a connection closes."""
    hub: HubClient = await make_client(max_connections_per_participant=3)
    s = await hub.session_with_b()
    held = [await hub.connect(s["a"]) for _ in range(3)]
    refused = await hub.connect(s["a"], hello=False)
    error = await refused.next("error")
    assert error["code"] == "rate_limited" and "at most 3" in error["message"]
    assert await refused.closed() == 4009
    assert await hub.metric("hub_rate_limited_total", limit="connections") == "1"
    assert (await (await hub.connect(s["b"])).request({"type": "ping"}))["type"] == "pong"
    await held[0].close()
    again = await connect_once_freed(hub, s["a"])
    assert (await again.request({"type": "ping"}))["type"] == "pong"


async def test_two_processes_together_hold_only_the_connection_cap(
    make_client: Any, config: Config
) -> None:
    """The cap counts a participant's websockets on every process sharing the Redis."""
    shared_redis(config)
    one: HubClient = await make_client(max_connections_per_participant=3)
    two: HubClient = await make_client(max_connections_per_participant=3)
    s = await one.session_with_b()
    await one.connect(s["obs"])
    await one.connect(s["obs"])
    kept = await two.connect(s["obs"])
    refused = await two.connect(s["obs"], hello=False)
    assert await refused.closed() == 4009
    assert await two.metric("hub_rate_limited_total", limit="connections") == "1"
    refused = await one.connect(s["obs"], hello=False)
    assert await refused.closed() == 4009
    assert await one.metric("hub_rate_limited_total", limit="connections") == "1"
    await kept.close()
    await connect_once_freed(two, s["obs"])


# --- invite redemption -----------------------------------------------------------------


async def test_two_processes_together_allow_only_the_invite_limit(
    make_client: Any, config: Config
) -> None:
    """Invite redemptions of one address are counted over every process on the Redis."""
    shared_redis(config)
    one: HubClient = await make_client(invite_attempts_per_minute=4)
    two: HubClient = await make_client(invite_attempts_per_minute=4)
    code = (await one.create_session())["invite_code"]
    body = {"invite_code": code, "role": "observer"}
    statuses = [(await post(hub, "/api/join", body))[0] for hub in (one, two) * 3]
    assert statuses == [201, 201, 201, 201, 429, 429]


async def test_forwarded_for_is_ignored_from_an_untrusted_peer(make_client: Any) -> None:
    """Without a trusted proxy, X-Forwarded-For changes nothing: a client cannot escape
    its budget by claiming to be someone else."""
    hub: HubClient = await make_client(invite_attempts_per_minute=2)
    code = (await hub.create_session())["invite_code"]
    body = {"invite_code": code, "role": "observer"}
    assert (await post(hub, "/api/join", body, fresh_address()))[0] == 201
    assert (await post(hub, "/api/join", body, fresh_address()))[0] == 201
    status, answer, headers = await post(hub, "/api/join", body, fresh_address())
    assert (status, answer["code"]) == (429, "rate_limited") and "Retry-After" in headers


async def test_forwarded_for_is_honoured_from_a_trusted_proxy(make_client: Any) -> None:
    """Behind a trusted proxy, each client has its own budget, keyed on the right-most
    address the proxies did not add themselves (a forged left part changes nothing)."""
    hub: HubClient = await make_client(invite_attempts_per_minute=2, trusted_proxies="127.0.0.1")
    code = (await hub.create_session())["invite_code"]
    body = {"invite_code": code, "role": "observer"}
    client, forged, neighbour = fresh_address(), fresh_address(), fresh_address()
    assert (await post(hub, "/api/join", body, client))[0] == 201
    assert (await post(hub, "/api/join", body, f"{forged}, {client}"))[0] == 201
    assert (await post(hub, "/api/join", body, f"{client}, 127.0.0.1"))[0] == 429
    assert (await post(hub, "/api/join", body, neighbour))[0] == 201


async def test_failed_redemptions_are_limited_hub_wide(make_client: Any) -> None:
    """Past the hub-wide budget of failed redemptions, redeeming is refused from every
    address (guessing goes no faster with more addresses), until it refills."""
    hub: HubClient = await make_client(invite_failures_per_minute=3, trusted_proxies="127.0.0.1")
    code = (await hub.create_session())["invite_code"]
    for guess in ("BOLD-OAK-1111-2222", "BOLD-OAK-3333-4444", "BOLD-OAK-5555"):
        status, _, _ = await post(hub, "/api/join", {"invite_code": guess}, fresh_address())
        assert status == 404
    body = {"invite_code": code, "role": "observer"}
    status, answer, headers = await post(hub, "/api/join", body, fresh_address())
    assert (status, answer["code"]) == (429, "rate_limited")
    assert 1 <= int(headers["Retry-After"]) <= 20
    assert await hub.metric("hub_rate_limited_total", limit="invite-failures") == "1"


async def test_guesses_made_at_once_get_no_more_than_the_allowed_failures(
    make_client: Any, config: Config
) -> None:
    """Wrong invite codes sent all at once (to two hubs on one Redis, when there is one)
    get exactly the hub's allowed failures (404) and the rest 429; a redemption that
    succeeds gives its token back, so redeeming again and again locks nobody out."""
    one: HubClient = await make_client(invite_failures_per_minute=3)
    two = await make_client(invite_failures_per_minute=3) if config.redis_url else one
    hubs = (one, two)
    code = (await one.create_session())["invite_code"]
    body = {"invite_code": code, "role": "observer"}
    for _ in range(3):
        joins = await asyncio.gather(*(post(hubs[i % 2], "/api/join", body) for i in range(3)))
        assert [status for status, _, _ in joins] == [201] * 3
    guesses = await asyncio.gather(
        *(
            post(hubs[i % 2], "/api/join", {"invite_code": f"BOLD-OAK-{1000 + i}-2222"})
            for i in range(12)
        )
    )
    assert sorted(status for status, _, _ in guesses) == [404] * 3 + [429] * 9
    assert (await post(two, "/api/join", body))[0] == 429


async def test_codes_issued_in_the_old_format_still_redeem(
    make_client: Any, config: Config
) -> None:
    """A live code of the shorter format issued before (WORD-WORD-1234) still redeems,
    in any case and spacing."""
    import asyncpg

    hub: HubClient = await make_client()
    created = await hub.create_session()
    old = f"CALM-PINE-{next(_addresses) % 9000 + 1000}"
    conn = await asyncpg.connect(config.database_url)
    try:
        await conn.execute(
            "UPDATE sessions SET invite_code = $2 WHERE id = $1", created["session"]["id"], old
        )
    finally:
        await conn.close()
    status, joined = await hub.join(old.lower().replace("-", " "), role="observer")
    assert status == 201 and joined["session"]["id"] == created["session"]["id"]


# --- anonymous search ------------------------------------------------------------------


async def search_from(hub: HubClient, address: str, key: str | None = None) -> tuple[int, Any, Any]:
    """GET /api/search from `address` (an X-Forwarded-For), with a user key if given."""
    headers = {"X-Forwarded-For": address}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    async with hub.http.get(
        hub.base + "/api/search", params={"q": "protein"}, headers=headers
    ) as resp:
        return resp.status, msgspec.json.decode(await resp.read()), resp.headers


async def test_anonymous_search_is_rate_limited_per_address(make_client: Any) -> None:
    """Past the per-address budget, a search without a user key answers 429
    `rate_limited` with a Retry-After (counted as `search`); another address still
    searches, and so does a search with a user key from the limited address."""
    hub: HubClient = await make_client(anonymous_searches_per_minute=3, trusted_proxies="127.0.0.1")
    mine, other = fresh_address(), fresh_address()
    for _ in range(3):
        assert (await search_from(hub, mine))[0] == 200
    status, body, headers = await search_from(hub, mine)
    assert (status, body["code"]) == (429, "rate_limited")
    assert 1 <= int(headers["Retry-After"]) <= 20
    assert await hub.metric("hub_rate_limited_total", limit="search") == "1"
    assert (await search_from(hub, other))[0] == 200
    name = f"seeker{next(_addresses)}"
    status, created, _ = await post(
        hub, "/api/users", {"username": name, "password": "correct horse battery"}
    )
    assert status == 201, created
    status, logged_in, _ = await post(
        hub, "/api/login", {"username": name, "password": "correct horse battery"}
    )
    assert status == 201, logged_in
    for _ in range(4):
        assert (await search_from(hub, mine, logged_in["token"]))[0] == 200

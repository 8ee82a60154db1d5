"""People's accounts: sign-up, log-in with user keys, brute-force limits, and what is
stored (never a password or a key in plain text)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import asyncpg
import pytest
from argon2 import PasswordHasher

from hub.config import Config
from tests.helpers import HubClient

_names = itertools.count(1)


def fresh_name(prefix: str = "ada") -> str:
    """A username no other test uses (the database outlives a test)."""
    return f"{prefix}{next(_names)}x{id(_names) % 9973}"


async def sign_up(
    hub: HubClient, username: str, password: str = "correct horse", **more: Any
) -> Any:
    status, body = await hub.call(
        "POST", "/api/users", json={"username": username, "password": password, **more}
    )
    assert status == 201, body
    return body


async def log_in(
    hub: HubClient, username: str, password: str = "correct horse", **more: Any
) -> tuple[int, Any]:
    return await hub.call(
        "POST", "/api/login", json={"username": username, "password": password, **more}
    )


async def test_sign_up_then_log_in_gives_a_key_that_opens_the_account(client: HubClient) -> None:
    """Signing up creates the account; logging in returns a usr_ key, shown once, that
    opens /api/me as a bearer token."""
    name = fresh_name()
    user = await sign_up(client, name, display_name="Ada L.", email=f"{name}@example.org")
    assert user["username"] == name and user["display_name"] == "Ada L."
    assert "password" not in str(user) and "password_hash" not in user
    status, logged = await log_in(client, name.upper(), key_name="laptop")
    assert status == 201, logged
    assert logged["token"].startswith("usr_") and len(logged["token"]) >= 4 + 22
    assert logged["key"]["name"] == "laptop" and logged["user"]["id"] == user["id"]
    status, me = await client.call("GET", "/api/me", token=logged["token"])
    assert status == 200 and me == user


async def test_usernames_and_emails_are_unique_whatever_their_case(client: HubClient) -> None:
    """A second account named like an existing one in another case, or with its email
    in another case, is refused with `conflict`."""
    name = fresh_name()
    await sign_up(client, name, email=f"{name}@Example.org")
    status, body = await client.call(
        "POST", "/api/users", json={"username": name.upper(), "password": "another one"}
    )
    assert (status, body["code"]) == (409, "conflict") and "username" in body["message"]
    status, body = await client.call(
        "POST",
        "/api/users",
        json={"username": fresh_name(), "password": "another one", "email": f"{name}@EXAMPLE.ORG"},
    )
    assert (status, body["code"]) == (409, "conflict") and "email" in body["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"username": "ab", "password": "long enough"},
        {"username": "-dash", "password": "long enough"},
        {"username": "ok_name", "password": "short"},
        {"username": "ok_name", "password": "long enough", "email": "not-an-email"},
        {"username": "ok_name", "password": "long enough", "admin": True},
        {"username": "ok_name", "password": "x" * 257},
    ],
)
async def test_bad_sign_ups_are_refused_with_bad_request(client: HubClient, body: Any) -> None:
    """A too-short name or password, a malformed email or an unknown field is refused
    `bad_request`, and no account is made."""
    status, answer = await client.call("POST", "/api/users", json=body)
    assert (status, answer["code"]) == (400, "bad_request")
    assert (await log_in(client, body["username"], body["password"]))[0] == 401


async def test_a_wrong_password_and_an_unknown_name_get_the_same_answer(client: HubClient) -> None:
    """Logging in with a wrong password, or as nobody, answers 401 with one message, so
    the answer does not tell which names exist."""
    name = fresh_name()
    await sign_up(client, name)
    wrong = await log_in(client, name, "not the password")
    nobody = await log_in(client, fresh_name("nobody"), "not the password")
    assert wrong[0] == nobody[0] == 401
    assert wrong[1] == nobody[1]


async def test_keys_are_listed_used_and_revoked(client: HubClient) -> None:
    """Keys are listed by name with their last use, never their text; a revoked key
    stops working at once; nobody revokes another person's key."""
    name = fresh_name()
    await sign_up(client, name)
    _, first = await log_in(client, name, key_name="laptop")
    token = first["token"]
    status, made = await client.call("POST", "/api/me/keys", token=token, json={"name": "ci"})
    assert status == 201 and made["token"].startswith("usr_") and made["key"]["name"] == "ci"
    assert (await client.call("GET", "/api/me", token=made["token"]))[0] == 200
    status, listed = await client.call("GET", "/api/me/keys", token=token)
    assert status == 200 and [k["name"] for k in listed["keys"]] == ["laptop", "ci"]
    assert token not in str(listed) and made["token"] not in str(listed)
    assert all(k["last_used_at"] is not None for k in listed["keys"])

    other = fresh_name("eve")
    await sign_up(client, other)
    _, eve = await log_in(client, other)
    status, answer = await client.call(
        "DELETE", f"/api/me/keys/{made['key']['id']}", token=eve["token"]
    )
    assert (status, answer["code"]) == (404, "not_found")
    assert (await client.call("GET", "/api/me", token=made["token"]))[0] == 200

    status, revoked = await client.call("DELETE", f"/api/me/keys/{made['key']['id']}", token=token)
    assert status == 200 and revoked["revoked_at"] is not None
    status, answer = await client.call("GET", "/api/me", token=made["token"])
    assert (status, answer["code"]) == (401, "unauthorized")
    assert (await client.call("GET", "/api/me", token=token))[0] == 200


async def test_user_keys_are_not_session_tokens_nor_taken_from_the_url(client: HubClient) -> None:
    """A session token does not open /api/me, a user key does not open a session, and a
    user key in the query string is not read."""
    name = fresh_name()
    await sign_up(client, name)
    _, logged = await log_in(client, name)
    created = await client.create_session()
    status, _ = await client.call("GET", "/api/me", token=created["agent_token"])
    assert status == 401
    sid = created["session"]["id"]
    assert (await client.call("GET", f"/api/sessions/{sid}", token=logged["token"]))[0] == 401
    status, _ = await client.call("GET", "/api/me", params={"token": logged["token"]})
    assert status == 401


async def test_guessing_one_accounts_password_is_stopped_from_any_address(
    make_client: Any, config: Config
) -> None:
    """After the allowed failures, logging in to that account is refused (429 with
    Retry-After), even with the right password and from another hub process on the
    same Redis; other accounts are unaffected."""
    one: HubClient = await make_client(login_failures_per_account=3)
    two = one
    if config.redis_url is not None:
        two = await make_client(login_failures_per_account=3)
    name, bystander = fresh_name(), fresh_name("bob")
    await sign_up(one, name)
    await sign_up(one, bystander)
    for hub in (one, two, one):
        assert (await log_in(hub, name, "guess"))[0] == 401
    status, answer = await log_in(two, name)
    assert (status, answer["code"]) == (429, "rate_limited")
    assert (await log_in(one, bystander))[0] == 201
    assert await two.metric("hub_rate_limited_total", limit="login-failures") == "1"


async def test_guesses_made_at_once_get_no_more_than_the_allowed_failures(
    make_client: Any, config: Config
) -> None:
    """Wrong passwords sent all at once (to two hubs on one Redis, when there is one)
    get exactly the allowed failures (401) and the rest 429; a right password gives its
    token back, so logging in again and again locks nobody out."""
    one: HubClient = await make_client(login_failures_per_account=3)
    two = await make_client(login_failures_per_account=3) if config.redis_url else one
    name = fresh_name()
    await sign_up(one, name)
    for _ in range(3):
        logins = await asyncio.gather(*(log_in((one, two)[i % 2], name) for i in range(3)))
        assert [status for status, _ in logins] == [201] * 3
    guesses = await asyncio.gather(*(log_in((one, two)[i % 2], name, "guess") for i in range(12)))
    assert sorted(status for status, _ in guesses) == [401] * 3 + [429] * 9
    assert (await log_in(two, name))[0] == 429


async def test_concurrent_sign_ups_of_one_name_make_one_account(client: HubClient) -> None:
    """Many clients signing up the same name at once (in different cases): exactly one
    gets the account, the others `conflict`."""
    name = fresh_name()
    variants = [name, name.upper(), name.capitalize(), name] * 2
    results = await asyncio.gather(
        *(
            client.call("POST", "/api/users", json={"username": v, "password": "correct horse"})
            for v in variants
        )
    )
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * (len(variants) - 1)


async def test_nothing_stored_reveals_a_password_or_a_key(
    client: HubClient, database_url: str
) -> None:
    """The database holds passwords only as Argon2id hashes and keys only as SHA-256:
    no column of any table contains the password or the key's text; and every change
    wrote its audit row."""
    name = fresh_name()
    password = "a very particular passphrase"
    user = await sign_up(client, name, password=password)
    _, logged = await log_in(client, name, password)
    _, made = await client.call("POST", "/api/me/keys", token=logged["token"], json={"name": "x"})
    await client.call("DELETE", f"/api/me/keys/{made['key']['id']}", token=logged["token"])
    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetchval("SELECT password_hash FROM users WHERE id = $1", user["id"])
        assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
        for row in tables:
            table = row["table_name"]
            dump = await conn.fetchval(
                f"SELECT coalesce(string_agg(t::text, ' '), '') FROM \"{table}\" t"
            )
            for secret in (password, logged["token"], made["token"], logged["token"][4:]):
                assert secret not in dump, row["table_name"]
        actions = await conn.fetch(
            "SELECT action FROM audit WHERE user_id = $1 ORDER BY id", user["id"]
        )
        assert [a["action"] for a in actions] == [
            "user.created",
            "user.logged_in",
            "key.created",
            "key.revoked",
        ]
    finally:
        await conn.close()


async def test_a_hash_made_with_older_parameters_is_replaced_at_log_in(
    client: HubClient, database_url: str
) -> None:
    """An account whose hash was made with weaker Argon2 parameters still logs in, and
    its hash is then made again with today's."""
    name = fresh_name()
    user = await sign_up(client, name)
    weak = PasswordHasher(time_cost=1, memory_cost=8_192, parallelism=1).hash("correct horse")
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE users SET password_hash = $2 WHERE id = $1", user["id"], weak)
        assert (await log_in(client, name))[0] == 201
        stored = await conn.fetchval("SELECT password_hash FROM users WHERE id = $1", user["id"])
        assert stored != weak and stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        assert (await log_in(client, name))[0] == 201
    finally:
        await conn.close()

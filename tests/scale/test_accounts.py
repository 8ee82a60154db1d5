"""Log-in limits held by real `hub serve` processes sharing one Redis: guessing one
account's password through several processes at once gets no more tries than one."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from aiohttp import ClientSession

from tests.scale.conftest import client_for


async def test_guesses_at_once_through_two_processes_get_the_allowed_failures_only(
    hubs: Any, http: ClientSession
) -> None:
    """Twenty wrong passwords for one account, sent at once through two processes, get
    exactly `HUB_LOGIN_FAILURES_PER_ACCOUNT` (4) failures and 429 for the rest; then the
    right password is refused by both processes too, and another account logs in."""
    procs = await hubs(2, HUB_LOGIN_FAILURES_PER_ACCOUNT="4", HUB_LOGIN_ATTEMPTS_PER_MINUTE="1000")
    one, two = (client_for(http, p) for p in procs)
    name, bystander = "ada" + secrets.token_hex(4), "bob" + secrets.token_hex(4)
    for username in (name, bystander):
        body = {"username": username, "password": "correct horse"}
        assert (await one.call("POST", "/api/users", json=body))[0] == 201

    async def log_in(i: int, password: str, username: str = name) -> int:
        body = {"username": username, "password": password}
        status, _ = await (one, two)[i % 2].call("POST", "/api/login", json=body)
        return status

    guesses = await asyncio.gather(*(log_in(i, f"guess {i}") for i in range(20)))
    assert sorted(guesses) == [401] * 4 + [429] * 16
    assert [await log_in(i, "correct horse") for i in range(2)] == [429, 429]
    assert await log_in(0, "correct horse", bystander) == 201

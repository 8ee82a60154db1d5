"""The hub's own MCP endpoint (`/mcp`, Streamable HTTP) with the official MCP SDK's own
client over real HTTP, against a real hub, while an observer watches on the websocket."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx2
import mcp_types as types
import pytest
from aiohttp.test_utils import TestServer
from mcp import Client, ClientSession, MCPDeprecationWarning
from mcp.client.streamable_http import streamable_http_client

from hub.mcp.http import SESSIONS_PER_TOKEN
from tests.cli_helpers import base_url, one_bus
from tests.helpers import HubClient
from tests.mcp.test_mcp_stdio import TIMEOUT, Agent, _session

pytestmark = one_bus


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "probe", "version": "0"},
    },
}
"""An MCP client's opening request, as a bare HTTP client sends it."""
ACCEPT = {"Accept": "application/json, text/event-stream"}


@contextlib.asynccontextmanager
async def _transport(url: str, token: str) -> AsyncIterator[Any]:
    """The SDK's Streamable HTTP transport to the hub's `/mcp`, with the bearer token."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=TIMEOUT) as http:
        async with streamable_http_client(url + "/mcp", http_client=http) as streams:
            yield streams


@contextlib.asynccontextmanager
async def http_agent(url: str, token: str) -> AsyncIterator[Agent]:
    """An MCP client (protocol 2025-11-25, resources/subscribe) on the hub's `/mcp`."""
    async with _transport(url, token) as (read, write):
        holder: list[Agent] = []

        async def handler(message: Any) -> None:
            if holder:
                await holder[0].notified(message)

        async with ClientSession(read, write, message_handler=handler) as session:
            async with asyncio.timeout(TIMEOUT):
                await session.initialize()
            holder.append(Agent(session))
            yield holder[0]


@contextlib.asynccontextmanager
async def modern_http_agent(url: str, token: str) -> AsyncIterator[Agent]:
    """The SDK's `Client` on `/mcp`, which negotiates 2026-07-28 if it can."""
    client = Client(_transport(url, token))
    async with asyncio.timeout(TIMEOUT):
        await client.__aenter__()
    try:
        yield Agent(client)
    finally:
        await client.__aexit__(None, None, None)


async def test_two_agents_converse_over_http_and_an_observer_sees_it(
    hub_server: TestServer, client: HubClient
) -> None:
    """A and B join with nothing but the URL and their tokens: each is told who it is, A
    sends, B's wait_for_messages gets it exactly once, B replies, A gets the reply, a
    note edited by both from version 1 gives B a conflict answer with the current note,
    B merges, A is told the note changed, and the observer sees it all."""
    url = base_url(hub_server)
    s = await _session(url)
    observer = await client.connect(s["obs"])
    async with http_agent(url, s["a"]) as a, modern_http_agent(url, s["b"]) as b:
        assert (await a.call("session_state"))["you"] == {
            "participant": "planner",
            "role": "agent_a",
        }
        assert (await b.call("session_state"))["you"] == {"participant": "coder", "role": "agent_b"}

        waiting = asyncio.create_task(b.call("wait_for_messages", timeout=TIMEOUT))
        sent = await a.call("send_message", content="Plan: parser first.", type="handoff")
        got = await waiting
        assert [(m["id"], m["author"]) for m in got["messages"]] == [
            (sent["message"]["id"], "planner")
        ]
        await b.call("send_message", content="On it.", reply_to=sent["message"]["id"])
        heard = await a.call("wait_for_messages", timeout=TIMEOUT)
        assert [(m["author"], m["reply_to"]) for m in heard["messages"]] == [("coder", 1)]
        again = await b.call("wait_for_messages", timeout=0.2)
        assert again["messages"] == [] and again["timed_out"]

        created = await a.call("create_note", title="Plan", content="# Plan\n")
        uri = f"hub://notes/{created['note']['id']}"
        with pytest.warns(MCPDeprecationWarning):
            await a.session.subscribe_resource(uri)
        await a.call(
            "edit_note",
            note_id=created["note"]["id"],
            content="# Plan\n- lex\n",
            expected_version=1,
        )
        clash = await b.call(
            "edit_note",
            note_id=created["note"]["id"],
            content="# Plan\n- parse\n",
            expected_version=1,
        )
        assert clash["status"] == "conflict" and clash["note"]["version"] == 2
        merged = await b.call(
            "edit_note",
            note_id=created["note"]["id"],
            content=clash["note"]["content"] + "- parse\n",
            expected_version=2,
        )
        assert merged["note"]["version"] == 3
        await a.update_of(uri)
        read = await a.session.read_resource(uri)
        content = read.contents[0]
        assert isinstance(content, types.TextResourceContents)
        assert content.text == "# Plan\n- lex\n- parse\n"

        first, second = await observer.next("message"), await observer.next("message")
        assert (first["message"]["author_id"], second["message"]["author_id"]) == (
            "planner",
            "coder",
        )
        assert [(await observer.next("note"))["note"]["version"] for _ in range(3)] == [1, 2, 3]


async def test_each_message_once_across_mcp_sessions_of_one_token(hub_server: TestServer) -> None:
    """A token's MCP sessions share one cursor: what one session's wait returned, the
    next session (a reconnecting agent) does not get again."""
    url = base_url(hub_server)
    s = await _session(url)
    async with http_agent(url, s["a"]) as a:
        await a.call("send_message", content="one")
    async with http_agent(url, s["b"]) as b:
        first = await b.call("wait_for_messages", timeout=TIMEOUT)
        assert [m["content"] for m in first["messages"]] == ["one"]
    async with http_agent(url, s["a"]) as a:
        await a.call("send_message", content="two")
    async with http_agent(url, s["b"]) as b:
        second = await b.call("wait_for_messages", timeout=TIMEOUT)
        assert [m["content"] for m in second["messages"]] == ["two"]


async def test_tokens_are_checked_at_every_request(hub_server: TestServer) -> None:
    """No token, a wrong one, or a token in the URL: 401 with `WWW-Authenticate: Bearer`
    before any MCP is spoken; an MCP session opened with A's token does not answer B's
    (404, as if it did not exist); a deleted session's token gets 410 at once."""
    url = base_url(hub_server)
    s = await _session(url)
    init, accept = INITIALIZE, ACCEPT
    async with aiohttp.ClientSession() as http:
        for headers, query in (
            ({}, ""),
            ({"Authorization": "Bearer agt_" + "x" * 32}, ""),
            ({}, "?token=" + s["a"]),
            ({"Authorization": "Basic " + s["a"]}, ""),
        ):
            async with http.post(
                url + "/mcp" + query, json=init, headers={**accept, **headers}
            ) as response:
                assert response.status == 401, (headers, query)
                assert response.headers["WWW-Authenticate"] == "Bearer"
                assert (await response.json())["code"] == "unauthorized"

        async with http.post(
            url + "/mcp", json=init, headers={**accept, "Authorization": f"Bearer {s['a']}"}
        ) as response:
            assert response.status == 200
            mcp_session = response.headers["Mcp-Session-Id"]
            await response.read()
        listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        stolen = {
            **accept,
            "Authorization": f"Bearer {s['b']}",
            "Mcp-Session-Id": mcp_session,
            "Mcp-Protocol-Version": "2025-06-18",
        }
        async with http.post(url + "/mcp", json=listing, headers=stolen) as response:
            assert response.status == 404

    async with http_agent(url, s["a"]) as a:
        assert (await a.call("session_state"))["you"]["role"] == "agent_a"
    async with aiohttp.ClientSession() as http:
        async with http.delete(
            f"{url}/api/sessions/{s['id']}", headers={"Authorization": f"Bearer {s['a']}"}
        ) as response:
            assert response.status in (200, 204)
        async with http.post(
            url + "/mcp", json=init, headers={**accept, "Authorization": f"Bearer {s['a']}"}
        ) as response:
            assert response.status == 410  # as on every route of a deleted session
            assert (await response.json())["code"] == "session_deleted"


async def test_one_token_holds_a_bounded_number_of_mcp_sessions(hub_server: TestServer) -> None:
    """A token may hold 16 MCP sessions open; the 17th opening is refused 429
    `rate_limited` with the hub's JSON error, while another token still opens one, and
    ending one (DELETE) makes room again."""
    url = base_url(hub_server)
    s = await _session(url)
    init, accept = INITIALIZE, ACCEPT

    async def open_one(http: aiohttp.ClientSession, token: str) -> tuple[int, Any]:
        headers = {**accept, "Authorization": f"Bearer {token}"}
        async with http.post(url + "/mcp", json=init, headers=headers) as response:
            return response.status, (
                response.headers.get("Mcp-Session-Id") or await response.json()
            )

    async with aiohttp.ClientSession() as http:
        opened = [await open_one(http, s["a"]) for _ in range(SESSIONS_PER_TOKEN)]
        assert all(status == 200 for status, _ in opened), opened
        status, body = await open_one(http, s["a"])
        assert (status, body["code"]) == (429, "rate_limited")
        assert (await open_one(http, s["b"]))[0] == 200
        headers = {"Authorization": f"Bearer {s['a']}", "Mcp-Session-Id": opened[0][1]}
        async with http.delete(url + "/mcp", headers=headers) as response:
            assert response.status == 200
        assert (await open_one(http, s["a"]))[0] == 200

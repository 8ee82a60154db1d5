"""`hub mcp` with the official MCP SDK's own client: real `hub mcp` processes over stdio,
against a real hub, while an observer watches on the websocket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from aiohttp.test_utils import TestServer
from mcp import Client, ClientSession, MCPDeprecationWarning, StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError

from hub.client import HubAPI
from hub.domain.jobs import LogLevel
from tests.cli_helpers import base_url, hub, one_bus, quiet_env
from tests.compute_helpers import setup
from tests.helpers import HubClient
from tests.sdk.test_client import drop_all

__all__ = ["quiet_env"]

pytestmark = one_bus
TIMEOUT = 30


class Agent:
    """One MCP client talking to its own `hub mcp` process."""

    def __init__(self, session: Any) -> None:
        """`session`: a `ClientSession`, or a `Client` (which speaks 2026-07-28 if it can)."""
        self.session = session
        self.updated: list[str] = []
        self._changed = asyncio.Event()

    async def notified(self, message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            self.updated.append(str(message.params.uri))
            self._changed.set()

    async def update_of(self, uri: str) -> None:
        """Wait until the client was told that `uri` changed."""
        async with asyncio.timeout(TIMEOUT):
            while uri not in self.updated:
                self._changed.clear()
                await self._changed.wait()

    async def raw(self, tool: str, **arguments: Any) -> types.CallToolResult:
        async with asyncio.timeout(TIMEOUT):
            return await self.session.call_tool(tool, arguments)

    async def call(self, tool: str, **arguments: Any) -> Any:
        """The tool's answer, decoded; it must not be an error."""
        result = await self.raw(tool, **arguments)
        assert not result.is_error, result.content
        text = result.content[0]
        assert isinstance(text, types.TextContent)
        answer = json.loads(text.text)
        assert answer == result.structured_content
        return answer

    async def error(self, tool: str, **arguments: Any) -> str:
        """The text of the tool error the call gets."""
        result = await self.raw(tool, **arguments)
        assert result.is_error, result.content
        text = result.content[0]
        assert isinstance(text, types.TextContent)
        return text.text


def _params(url: str, *args: str, env: dict[str, str] | None = None) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["-m", "hub.cli", "mcp", "--url", url, *args], env=env
    )


@contextlib.asynccontextmanager
async def agent(
    url: str, token: str, tmp_path: Path, *args: str, via_env: bool = False
) -> AsyncIterator[Agent]:
    """`hub mcp` for `token` (on the command line, or in HUB_TOKEN), with a client."""
    given = ([], {"HUB_TOKEN": token}) if via_env else (["--token", token], None)
    params = _params(url, *given[0], *args, env=given[1])
    with (tmp_path / f"mcp-{token[-6:]}.err").open("w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
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
async def modern_agent(url: str, token: str, tmp_path: Path) -> AsyncIterator[Agent]:
    """`hub mcp` for `token` with the SDK's `Client`, which negotiates 2026-07-28."""
    client = Client(_params(url, "--token", token))
    async with asyncio.timeout(TIMEOUT):
        await client.__aenter__()
    try:
        yield Agent(client)
    finally:
        await client.__aexit__(None, None, None)


async def _resource_text(agent: Agent, uri: str) -> str:
    read = await agent.session.read_resource(uri)
    content = read.contents[0]
    assert isinstance(content, types.TextResourceContents)
    return content.text


async def _session(url: str) -> dict[str, str]:
    async with HubAPI(url) as rest:
        created = await rest.create_session(name="MCP pair", agent_id="planner")
        joined = await rest.join(created.invite_code, agent_id="coder")
    return {
        "id": created.session.id,
        "a": created.agent_token,
        "b": joined.token,
        "obs": created.observer_token,
    }


async def test_two_agents_converse_and_an_observer_sees_it(
    hub_server: TestServer, client: HubClient, tmp_path: Path
) -> None:
    """A sends, B's wait_for_messages gets it exactly once, B replies to it, A gets the
    reply (not its own message), and an observer on the websocket sees both; A, subscribed
    to the transcript and to a file B writes, is told when each changes and reads them."""
    url = base_url(hub_server)
    s = await _session(url)
    observer = await client.connect(s["obs"])
    async with (
        agent(url, s["a"], tmp_path) as a,
        agent(url, s["b"], tmp_path, via_env=True) as b,
    ):
        tools = {tool.name for tool in (await a.session.list_tools()).tools}
        assert tools >= {
            "session_state",
            "send_message",
            "wait_for_messages",
            "history",
            "list_notes",
            "read_note",
            "edit_note",
            "list_files",
            "read_file",
            "write_file",
            "set_presence",
        }
        transcript = "hub://session/transcript"
        with pytest.warns(MCPDeprecationWarning):
            await a.session.subscribe_resource(transcript)
        state = await b.call("session_state")
        assert state["you"] == {"participant": "coder", "role": "agent_b"}
        assert state["session"]["agent_a"] == "planner" and state["last_message_id"] == 0

        waiting = asyncio.create_task(b.call("wait_for_messages", timeout=TIMEOUT))
        sent = await a.call("send_message", content="Plan: tokenizer first.", type="handoff")
        assert sent["message"]["id"] == 1
        got = await waiting
        assert [(m["id"], m["author"], m["type"]) for m in got["messages"]] == [
            (1, "planner", "handoff")
        ]
        assert got["messages"][0]["content"] == "Plan: tokenizer first."
        assert got["cursor"] == 1 and not got["more"] and not got["timed_out"]

        await a.update_of(transcript)  # (A's own message), then B's reply is news
        a.updated.clear()
        reply = await b.call("send_message", content="On it.", reply_to=1)
        assert reply["message"]["reply_to"] == 1
        heard = await a.call("wait_for_messages", timeout=TIMEOUT)
        assert [(m["id"], m["author"], m["reply_to"]) for m in heard["messages"]] == [
            (2, "coder", 1)
        ]
        await a.update_of(transcript)
        assert "On it." in await _resource_text(a, transcript)
        again = await b.call("wait_for_messages", timeout=0.2)  # B's own reply is left out
        assert again["messages"] == [] and again["timed_out"] and again["cursor"] == 2

        await b.call("set_presence", status="working", activity="writing the tokenizer")
        await b.call("write_file", path="src/tokenizer.py", content="def tokens(): ...\n")
        files = await a.call("list_files")
        assert [f["path"] for f in files["files"]] == ["src/tokenizer.py"]
        read = await a.call("read_file", path="src/tokenizer.py")
        assert read["content"] == "def tokens(): ...\n" and read["last_editor"] == "coder"
        uri = "hub://files/src/tokenizer.py"
        assert uri in {str(r.uri) for r in (await a.session.list_resources()).resources}
        with pytest.warns(MCPDeprecationWarning):
            await a.session.subscribe_resource(uri)
        await b.call("write_file", path="src/tokenizer.py", content="def tokens(): return []\n")
        await a.update_of(uri)
        assert await _resource_text(a, uri) == "def tokens(): return []\n"
        history = await a.call("history")
        assert [m["id"] for m in history["messages"]] == [1, 2]

        first = await observer.next("message")
        second = await observer.next("message")
        assert first["message"]["content"] == "Plan: tokenizer first."
        assert first["message"]["author_id"] == "planner"
        assert second["message"]["parent_id"] == 1 and second["message"]["author_id"] == "coder"
        working = await observer.wait(
            lambda: any(
                f["type"] == "presence" and f["presence"]["status"] == "working"
                for f in observer.frames
            )
        )
        assert working
        written = await observer.next("file")
        assert written["file"]["path"] == "src/tokenizer.py"


async def test_note_conflict_is_merged_and_resources_follow(
    hub_server: TestServer, client: HubClient, tmp_path: Path
) -> None:
    """Both agents edit version 1 of a note: the second gets a conflict answer (not an
    error) with the current note, merges, and saves version 3; subscribed clients (with
    resources/subscribe, and with 2026-07-28's subscriptions/listen) are told of the
    changes, the note reads as a resource, and the observer sees every version."""
    url = base_url(hub_server)
    s = await _session(url)
    observer = await client.connect(s["obs"])
    async with (
        modern_agent(url, s["a"], tmp_path) as a,
        agent(url, s["b"], tmp_path) as b,
    ):
        assert a.session.protocol_version == "2026-07-28"
        created = await a.call("create_note", title="Outline", content="# README\n")
        assert created["status"] == "saved" and created["note"]["version"] == 1
        note_id = created["note"]["id"]
        uri = f"hub://notes/{note_id}"
        with pytest.warns(MCPDeprecationWarning):  # the 2025 way, still what clients use
            await b.session.subscribe_resource(uri)
        listening = a.session.listen(resource_subscriptions=[uri])
        async with asyncio.timeout(TIMEOUT):
            stream = await listening.__aenter__()

        seen = await b.call("read_note", note_id=note_id)
        assert seen["version"] == 1
        saved = await a.call(
            "edit_note",
            note_id=note_id,
            content="# README\n- Install\n",
            expected_version=1,
        )
        assert saved["status"] == "saved" and saved["note"]["version"] == 2
        await b.update_of(uri)

        clash = await b.call(
            "edit_note", note_id=note_id, content="# README\n- Usage\n", expected_version=1
        )
        assert clash["status"] == "conflict"
        assert clash["note"]["version"] == 2 and clash["note"]["content"] == "# README\n- Install\n"
        assert "expected_version 2" in clash["message"]
        merged = await b.call(
            "edit_note",
            note_id=note_id,
            content=clash["note"]["content"] + "- Usage\n",
            expected_version=clash["note"]["version"],
        )
        assert merged["status"] == "saved" and merged["note"]["version"] == 3
        async with asyncio.timeout(TIMEOUT):
            event = await anext(aiter(stream))
        assert event.uri == uri
        await listening.__aexit__(None, None, None)

        read = await a.session.read_resource(uri)
        content = read.contents[0]
        assert isinstance(content, types.TextResourceContents)
        assert content.text == "# README\n- Install\n- Usage\n"
        listed = {str(r.uri) for r in (await a.session.list_resources()).resources}
        assert {"hub://session/transcript", uri} <= listed
        with pytest.raises(MCPError):
            await a.session.read_resource("hub://notes/999999")

        versions = [(await observer.next("note"))["note"]["version"] for _ in range(3)]
        assert versions == [1, 2, 3]
        notes = await a.call("list_notes")
        assert [(n["id"], n["version"]) for n in notes["notes"]] == [(note_id, 3)]


async def test_wait_returns_each_message_once_across_reconnects(
    hub_server: TestServer, tmp_path: Path
) -> None:
    """The hub drops the bridge's websocket twice while messages are posted: B's
    wait_for_messages returns each one exactly once, in order, and then times out empty."""
    url = base_url(hub_server)
    s = await _session(url)
    async with HubAPI(url) as rest, agent(url, s["b"], tmp_path) as b:
        got: list[int] = []
        await rest.send(s["id"], s["a"], "m1")
        for round_ in range(2):
            await drop_all(hub_server)
            for i in range(3):
                await rest.send(s["id"], s["a"], f"r{round_}-{i}")
            while len(got) < 1 + 3 * (round_ + 1):
                answer = await b.call("wait_for_messages", timeout=TIMEOUT, limit=2)
                assert answer["messages"], answer
                got += [m["id"] for m in answer["messages"]]
        assert got == list(range(1, 8))
        quiet = await b.call("wait_for_messages", timeout=0.3)
        assert quiet == {"messages": [], "cursor": 7, "more": False, "timed_out": True}


async def test_sends_across_drops_post_each_message_once(
    hub_server: TestServer, tmp_path: Path
) -> None:
    """The hub drops the bridge's websocket while B's send_message is on its way, again
    and again: the bridge resumes and each send posts one message (re-sent with its
    client_msg_id), and B's own wait still leaves every one of them out."""
    url = base_url(hub_server)
    s = await _session(url)
    async with agent(url, s["b"], tmp_path) as b:
        ids = []
        for i in range(6):
            sent, _ = await asyncio.gather(
                b.call("send_message", content=f"m{i}"), drop_all(hub_server)
            )
            ids.append(sent["message"]["id"])
        assert ids == list(range(1, 7))
        async with HubAPI(url) as rest:
            history = await rest.history(s["id"], s["a"], after=0, limit=50)
        assert [m.content for m in history.messages] == [f"m{i}" for i in range(6)]
        quiet = await b.call("wait_for_messages", timeout=0.3)
        assert quiet == {"messages": [], "cursor": 6, "more": False, "timed_out": True}


async def test_timeouts_and_bad_arguments_are_clean_answers(
    hub_server: TestServer, tmp_path: Path
) -> None:
    """A wait on a quiet session times out with an empty list; bad arguments and hub
    refusals are tool errors carrying the hub's code, and the bridge keeps working until
    the session is deleted, which ends a pending wait with `session_deleted`."""
    url = base_url(hub_server)
    s = await _session(url)
    async with agent(url, s["a"], tmp_path) as a:
        quiet = await a.call("wait_for_messages", timeout=0.2)
        assert quiet == {"messages": [], "cursor": 0, "more": False, "timed_out": True}
        assert (await a.error("wait_for_messages", timeout=-1)).startswith("bad_request:")
        assert (await a.error("wait_for_messages", timeout=10_000)).startswith("bad_request:")
        assert (await a.error("send_message", content="x", type="system")).startswith(
            "bad_request:"
        )
        assert (await a.error("send_message", content="x", colour="red")).startswith("bad_request:")
        assert (await a.error("send_message", content="nul \x00 byte")).startswith("bad_request:")
        too_long = await a.error("send_message", content="x" * 70_000)
        assert too_long.split(":")[0] in ("bad_request", "payload_too_large")
        assert (await a.error("read_note", note_id=424242)).startswith("not_found:")
        assert (await a.error("read_file", path="../etc/passwd")).split(":")[0] in (
            "bad_request",
            "not_found",
        )
        assert (await a.error("no_such_tool")).startswith("bad_request:")
        ok = await a.call("send_message", content="still here")
        assert ok["message"]["id"] == 1

        # A's own message is unread: the wait reads it (and skips it) while the session is
        # deleted. The wait is far longer than the client's TIMEOUT, so only the end of
        # the session can answer it in time (a wake lost during that read would not).
        waiting = asyncio.create_task(a.error("wait_for_messages", timeout=300))
        async with HubAPI(url) as rest:
            await rest.delete_session(s["id"], s["a"])
        assert (await waiting).startswith("session_deleted:")
        assert (await a.error("session_state")).startswith("session_deleted:")


async def test_bad_token_is_a_clear_error_at_startup(
    hub_server: TestServer, tmp_path: Path
) -> None:
    """A refused token ends `hub mcp` before it speaks MCP, with one line on stderr; with
    no token at all it says how to give one."""
    url = base_url(hub_server)
    code, out, err = await hub("mcp", "--url", url, "--token", "agt_" + "x" * 32)
    assert (code, out) == (1, "")
    assert len(err.strip().splitlines()) == 1 and err.startswith("hub: unauthorized: "), err
    code, out, err = await hub("mcp", "--url", url)
    assert (code, out) == (2, "")
    assert "no token" in err

    errlog = tmp_path / "refused.err"
    with errlog.open("w") as log:
        async with stdio_client(_params(url, "--token", "agt_" + "y" * 32), errlog=log) as (
            read,
            write,
        ):
            async with ClientSession(read, write) as session:
                with pytest.raises(MCPError):
                    async with asyncio.timeout(TIMEOUT):
                        await session.initialize()
    assert "hub: unauthorized" in errlog.read_text()


async def _written(agent: Agent, characters: int) -> dict[str, Any]:
    """B's wait_for_messages once it says that someone wrote `characters` so far."""
    async with asyncio.timeout(TIMEOUT):
        while True:  # each call waits on the hub: no busy loop
            waited = await agent.call("wait_for_messages", timeout=0.2)
            assert waited["messages"] == []
            if waited.get("writing", [{}])[0].get("characters") == characters:
                return waited  # type: ignore[no-any-return]


async def test_a_stream_shows_as_writing_then_arrives_whole(
    hub_server: TestServer, tmp_path: Path
) -> None:
    """While A streams a message, B's session_state and wait_for_messages say that A is
    writing (with how much so far), and session_state shows the text so far (its last
    2,000 characters), also to a bridge started after the stream began; once A ends
    it, B's wait returns it whole, once."""
    from hub.client import connect

    url = base_url(hub_server)
    s = await _session(url)
    chunks: asyncio.Queue[str | None] = asyncio.Queue()

    async def model() -> AsyncIterator[str]:
        while (chunk := await chunks.get()) is not None:
            yield chunk

    async with connect(url, s["a"]) as a, agent(url, s["b"], tmp_path) as b:
        streaming = asyncio.create_task(a.stream(model(), msg_type="status"))
        chunks.put_nowait("Reading the ")
        chunks.put_nowait("parser")
        waited = await _written(b, 18)
        assert waited["writing"] == [{"participant": "planner", "type": "status", "characters": 18}]
        state = await b.call("session_state")
        assert state["writing"] == [
            {
                "participant": "planner",
                "type": "status",
                "characters": 18,
                "partial_text": "Reading the parser",
                "partial_from": 0,
            }
        ]

        long = "".join(f"[{i:04d}]" for i in range(400))  # 2,400 characters, each place told apart
        whole = "Reading the parser" + long
        for i in range(0, len(long), 300):
            chunks.put_nowait(long[i : i + 300])
        await _written(b, len(whole))
        tail = {"partial_text": whole[-2000:], "partial_from": len(whole) - 2000}
        state = await b.call("session_state")
        assert state["writing"] == [
            {"participant": "planner", "type": "status", "characters": len(whole), **tail}
        ]
        async with agent(url, s["obs"], tmp_path) as late:  # catches up on the open stream
            caught = await late.call("session_state")
            assert [(w["participant"], w["characters"]) for w in caught["writing"]] == [
                ("planner", len(whole))
            ]
            assert caught["writing"][0]["partial_text"] == tail["partial_text"]
            assert caught["writing"][0]["partial_from"] == tail["partial_from"]

        chunks.put_nowait(None)
        message = await streaming
        got = await b.call("wait_for_messages", timeout=TIMEOUT)
        assert [m["content"] for m in got["messages"]] == [whole]
        assert [m["id"] for m in got["messages"]] == [message.id]
        assert (await b.call("session_state"))["writing"] == []


async def test_request_approval_waits_for_the_decision(
    hub_server: TestServer, tmp_path: Path
) -> None:
    """B's request_approval returns `pending` when nobody decides within its timeout;
    called again with the request's message_id it returns the observer's decision. The
    observer interrupts B: B's wait_for_messages brings the system message, and
    `interrupted` says who and why (an interrupt of A is not B's)."""
    from hub.client import connect

    url = base_url(hub_server)
    s = await _session(url)
    async with connect(url, s["obs"]) as human, agent(url, s["b"], tmp_path) as b:
        pending = await b.call("request_approval", description="Drop the users table", timeout=0.2)
        assert (pending["status"], pending["description"]) == ("pending", "Drop the users table")
        waiting = asyncio.create_task(
            b.call("request_approval", message_id=pending["message_id"], timeout=TIMEOUT)
        )
        await human.decide(pending["message_id"], "rejected", "never")
        decided = await waiting
        assert decided["status"] == "rejected" and decided["comment"] == "never"
        assert decided["decided_by"] == human.you.participant_id
        error = await b.error("request_approval", timeout=0)
        assert "description" in error
        sent = await b.call("send_message", content="done", type="status", state="completed")
        assert sent["message"]["metadata"] == {"state": "completed"}

        of_a = await human.interrupt("not you", target="agent_a")
        stop = await human.interrupt("CI is red", target="agent_b")
        heard: list[dict[str, Any]] = []
        interrupted: list[dict[str, Any]] = []
        async with asyncio.timeout(TIMEOUT):
            while stop.id not in [m["id"] for m in heard]:
                waited = await b.call("wait_for_messages", timeout=TIMEOUT)
                heard += waited["messages"]
                interrupted += waited.get("interrupted", [])
        assert {of_a.id, stop.id} <= {m["id"] for m in heard}
        assert interrupted == [
            {"message_id": stop.id, "by": human.you.participant_id, "reason": "CI is red"}
        ]


async def test_an_agent_creates_waits_for_and_cancels_jobs(
    hub_server: TestServer, client: HubClient, tmp_path: Path
) -> None:
    """Over MCP, agent B queues a job (its cost reserved), `wait_for_job` returns it
    when a runner finishes it, with its output and last log lines; a job the pool
    cannot pay for is `insufficient_credits`; `cancel_job` cancels, once."""
    url = base_url(hub_server)
    s = await setup(client, credits=50)
    rkey = s.runners["main"]
    async with agent(url, s.session["b"], tmp_path) as b:
        tools = {tool.name for tool in (await b.session.list_tools()).tools}
        assert tools >= {"create_job", "wait_for_job", "cancel_job"}
        job = await b.call(
            "create_job", kind="echo", input={"text": "hi"}, estimated_cost=30, client_job_id="j1"
        )
        assert (job["status"], job["finished"], job["cost_reserved"]) == ("queued", False, 30)
        again = await b.call("create_job", kind="echo", estimated_cost=30, client_job_id="j1")
        assert again["id"] == job["id"]
        looked = await b.call("wait_for_job", job_id=job["id"], timeout=0)
        assert (looked["status"], looked["timed_out"]) == ("queued", True)
        error = await b.error("create_job", kind="echo", estimated_cost=21)
        assert error.startswith("insufficient_credits")
        waiting = asyncio.create_task(b.call("wait_for_job", job_id=job["id"], timeout=TIMEOUT))
        async with HubAPI(url) as rest:
            claimed = await rest.claim(rkey)
            assert claimed is not None and claimed.job.id == job["id"]
            lines: list[tuple[LogLevel, str]] = [("info", f"step {i}") for i in range(25)]
            await rest.report_log(rkey, job["id"], 1, lines)
            assert not waiting.done()
            output = {"echo": "hi"}
            await rest.report_result(rkey, job["id"], 1, "succeeded", output=output, cost=12)
        done = await waiting
        assert (done["status"], done["finished"], done["output"]) == (
            "succeeded",
            True,
            {"echo": "hi"},
        )
        assert (done["cost_charged"], done["log_count"]) == (12, 25)
        assert [e["text"] for e in done["log_tail"]] == [f"step {i}" for i in range(5, 25)]
        assert "timed_out" not in done
        other = await b.call("create_job", kind="echo", estimated_cost=5)
        cancelled = await b.call("cancel_job", job_id=other["id"])
        assert (cancelled["status"], cancelled["finished"]) == ("cancelled", True)
        assert (await b.error("cancel_job", job_id=other["id"])).startswith("invalid_transition")

"""The `hub` command, run as a real subprocess against a real hub."""

from __future__ import annotations

import asyncio
import os
import re
import sys

from aiohttp.test_utils import TestServer

TIMEOUT = 60


async def hub(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub.cli",
        *args,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(TIMEOUT):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def field(output: str, name: str) -> str:
    match = re.search(rf"^{name}:\s+(\S+)", output, re.MULTILINE)
    assert match, output
    return match.group(1)


async def test_demo_runs_two_bots_and_prints_the_transcript(database_url: str) -> None:
    """`hub demo` starts a hub, two bots collaborate, and the transcript shows it all."""
    code, out, err = await hub("demo", "--pace", "0", env={"HUB_DATABASE_URL": database_url})
    assert code == 0, err
    assert re.search(r"demo: watch at http://127\.0\.0\.1:\d+/join/[A-Z]+-[A-Z]+-\d+", out)
    messages = re.findall(r"^  #(\d+) \S+ (\w+) \(agent ([AB])\)", out, re.MULTILINE)
    assert [(int(i), who, slot) for i, who, slot in messages] == [
        (1, "planner", "A"),
        (2, "coder", "B"),
        (3, "coder", "B"),
        (4, "planner", "A"),
        (5, "coder", "B"),
        (6, "planner", "A"),
    ]
    assert "(re #1): Sounds good" in out
    assert "[action]: Usage section written. (attached: docs/usage.md)" in out
    assert "[handoff]: Added Operations" in out
    assert 'note "Outline" v1 by planner' in out and 'note "Outline" v2 by planner' in out
    assert "file docs/usage.md (52 B) by coder" in out
    assert "coder (agent B) is working: writing docs/usage.md" in out


async def test_session_join_send_and_watch(hub_server: TestServer) -> None:
    """Create a session, join it, send, and watch it from the terminal."""
    url = str(hub_server.make_url("")).rstrip("/")
    code, out, err = await hub(
        "session", "create", "--url", url, "--name", "CLI run", "--agent-id", "alpha"
    )
    assert code == 0, err
    agent_token, invite = field(out, "agent token"), field(out, "invite code")
    assert agent_token.startswith("agt_") and f"/join/{invite}" in out

    code, out, err = await hub("join", invite, "--url", url, "--agent-id", "beta")
    assert code == 0, err
    assert "beta (agent B)" in out and field(out, "token").startswith("agt_")

    code, out, err = await hub(
        "send", "hello from the terminal", "--token", agent_token, "--url", url
    )
    assert code == 0, err
    assert re.search(r"^#1 \S+ alpha \(agent A\): hello from the terminal$", out, re.MULTILINE)
    code, out, err = await hub(
        "send", "over to you", "--type", "handoff", "--token", agent_token, "--url", url
    )
    assert code == 0 and "#2" in out and "[handoff]" in out

    code, out, err = await hub("watch", invite, "--url", url, "--name", "Ada", "--limit", "2")
    assert code == 0, err
    assert out.splitlines()[0].startswith('watching "CLI run" (active, async)')
    assert "#1" in out and "hello from the terminal" in out and "#2" in out


async def test_errors_are_one_line_and_nonzero(hub_server: TestServer) -> None:
    """A bad invite or token gives one clear line on stderr and a non-zero exit."""
    url = str(hub_server.make_url("")).rstrip("/")
    code, out, err = await hub("join", "NOPE-NOPE-1234", "--url", url)
    assert code == 1 and out == ""
    assert err.strip().splitlines() == ["hub: invite_invalid: no session has that invite code"]
    code, _, err = await hub("send", "x", "--token", "agt_" + "x" * 32, "--url", url)
    assert code == 1 and err.startswith("hub: unauthorized")
    code, _, err = await hub("watch", "--url", url)
    assert code == 1 and "give an invite code or --token" in err
    code, out, _ = await hub("--help")
    assert code == 0 and "demo" in out and "watch" in out

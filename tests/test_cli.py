"""The `hub` command, run as a real subprocess against a real hub."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import signal
import stat
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest
from aiohttp.test_utils import TestServer

from hub.client import HubAPI, HubClientError, connect
from hub.protocol import PresenceEvent
from tests.helpers import TEST_SECRET_KEY
from tests.servers import free_port

TIMEOUT = 60


@pytest.fixture(autouse=True)
def quiet_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test has its own config folder, and no token or hub from the environment."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in ("HUB_TOKEN", "HUB_URL", "HUB_USER_KEY"):
        monkeypatch.delenv(name, raising=False)


async def start(*args: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub.cli",
        *args,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def hub(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await start(*args, env=env)
    async with asyncio.timeout(TIMEOUT):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def line_with(proc: asyncio.subprocess.Process, text: str, seen: list[str]) -> str:
    """Read the process's output up to a line containing `text`."""
    assert proc.stdout is not None
    async with asyncio.timeout(TIMEOUT):
        while True:
            raw = await proc.stdout.readline()
            assert raw, "".join(seen)
            seen.append(raw.decode())
            if text in seen[-1]:
                return seen[-1]


def base_url(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


async def created_session(url: str, **fields: object) -> dict[str, str]:
    """A session made through the CLI: its printed fields."""
    extra = [str(x) for k, v in fields.items() for x in (f"--{k.replace('_', '-')}", v)]
    code, out, err = await hub("session", "create", "--url", url, *extra)
    assert code == 0, err
    names = ("session", "agent A", "agent token", "observer token", "invite code")
    return {name: field(out, name) for name in names}


def field(output: str, name: str) -> str:
    match = re.search(rf"^{name}:\s+(\S+)", output, re.MULTILINE)
    assert match, output
    return match.group(1)


async def test_demo_runs_two_bots_and_prints_the_transcript(database_url: str) -> None:
    """`hub demo` starts a hub; two bots talk, write a file, both edit one note at once
    (one has a conflict and merges), and the session ends completed."""
    env = {"HUB_DATABASE_URL": database_url, "HUB_SECRET_KEY": TEST_SECRET_KEY}
    code, out, err = await hub("demo", "--pace", "0", env=env)
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
    assert "[handoff]: Let's both add to the outline" in out
    assert "file docs/usage.md (52 B) by coder" in out
    assert "coder (agent B) is working: writing docs/usage.md" in out
    assert 'note "Outline" v1 by planner' in out and 'note "Outline" v2 by ' in out
    conflict = re.findall(r"^demo: conflict! (\w+) edited v1 of the Outline, but v2", out, re.M)
    assert len(conflict) == 1, out
    assert f'note "Outline" v3 by {conflict[0]}' in out
    assert "demo: the Outline v3 has both edits: # README | - Install | - Usage |" in out
    merged = next(line for line in out.splitlines() if "has both edits" in line)
    assert "- Operations" in merged and "- Troubleshooting" in merged
    assert out.rstrip().endswith('session "Demo: tidy up the README" is completed')


async def test_demo_stay_waits_for_someone_watching(hub_server: TestServer) -> None:
    """With --stay the bots start only once an observer has the session open."""
    url = base_url(hub_server)
    proc = await start("demo", "--url", url, "--stay", "--pace", "0")
    seen: list[str] = []
    try:
        invite = (await line_with(proc, "demo: invite code", seen)).split()[-1]
        await line_with(proc, "the bots start once someone watches", seen)
        async with HubAPI(url) as rest:
            ada = await rest.join(invite, role="observer", display_name="Ada")
            page = await rest.history(ada.session.id, ada.token)
            assert page.last_message_id == 0  # nothing happened while nobody watched
            async with connect(url, ada.token):
                async with asyncio.timeout(TIMEOUT):
                    raw, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    out = "".join(seen) + raw.decode()
    assert "demo: someone is watching; the bots start" in out
    assert out.index("Ada (observer) is online") < out.index("#1 ")
    assert out.rstrip().endswith('session "Demo: tidy up the README" is completed')


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
    assert code == 2 and err.strip().splitlines() == [
        "hub: give an invite code, or a token (--token-file PATH, --token, HUB_TOKEN)"
    ]
    code, out, _ = await hub("--help")
    assert code == 0 and "demo" in out and "watch" in out


async def test_token_from_a_file_or_the_environment(hub_server: TestServer, tmp_path: Path) -> None:
    """The token comes from --token, else --token-file, else HUB_TOKEN; with none, one
    line says how to give it."""
    url = base_url(hub_server)
    s = await created_session(url, agent_id="alpha")
    token_file = tmp_path / "token"
    token_file.write_text(s["agent token"] + "\n")
    wrong = "agt_" + "x" * 32

    code, out, err = await hub("send", "from a file", "--url", url, "--token-file", str(token_file))
    assert code == 0 and "alpha (agent A): from a file" in out, err
    code, out, err = await hub(
        "send", "from env", "--url", url, env={"HUB_TOKEN": s["agent token"]}
    )
    assert code == 0 and "alpha (agent A): from env" in out, err
    # precedence: --token over --token-file over HUB_TOKEN
    code, _, err = await hub(
        "send", "x", "--url", url, "--token", wrong, "--token-file", str(token_file)
    )
    assert code == 1 and err.startswith("hub: unauthorized")
    code, out, err = await hub(
        "send", "file wins", "--url", url, "--token-file", str(token_file), env={"HUB_TOKEN": wrong}
    )
    assert code == 0 and "file wins" in out, err

    code, out, err = await hub("send", "x", "--url", url)
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "hub: no token: give --token-file PATH or --token TOKEN, or set HUB_TOKEN"
    ]
    code, _, err = await hub("send", "x", "--url", url, "--token-file", str(tmp_path / "none"))
    assert code == 2 and err.splitlines() == [
        f"hub: cannot read the token file {tmp_path / 'none'}: No such file or directory"
    ]


async def test_session_status_pause_resume_complete_invite_delete(hub_server: TestServer) -> None:
    """`hub session` shows a session and changes it as the REST API allows."""
    url = base_url(hub_server)
    s = await created_session(url, name="Status run", agent_id="alpha")
    sid, env = s["session"], {"HUB_TOKEN": s["agent token"]}
    code, out, err = await hub("join", s["invite code"], "--url", url, "--agent-id", "beta")
    assert code == 0, err
    beta = field(out, "token")
    await hub("send", "hello", "--url", url, env=env)

    code, out, err = await hub("session", "status", sid, "--url", url, env=env)
    assert code == 0, err
    assert "name:         Status run" in out
    assert "status:       active (async, private)" in out
    assert "agent A:      alpha" in out and "agent B:      beta" in out
    assert "last message: #1" in out
    assert "  alpha (agent A) is offline" in out
    assert field(out, "invite code") == s["invite code"]
    # agent B sees the session but not the invite code
    code, out, err = await hub("session", "status", sid, "--url", url, "--token", beta)
    assert code == 0 and "agent B:      beta" in out and "invite code" not in out, err

    for action, status in (("pause", "paused"), ("resume", "active"), ("complete", "completed")):
        code, out, err = await hub("session", action, sid, "--url", url, env=env)
        assert (code, out) == (0, f'session "Status run" is {status}\n'), err
    code, _, err = await hub("session", "pause", sid, "--url", url, env=env)
    assert code == 1 and err.splitlines() == [
        "hub: invalid_transition: a completed session cannot become paused"
    ]

    code, out, err = await hub("session", "invite", sid, "--url", url, env=env)
    assert code == 0 and field(out, "invite code") == s["invite code"], err
    code, out, err = await hub("session", "invite", sid, "--rotate", "--url", url, env=env)
    rotated = field(out, "invite code")
    assert code == 0 and rotated != s["invite code"] and f"/join/{rotated}" in out
    code, _, err = await hub("join", s["invite code"], "--url", url, "--as", "observer")
    assert code == 1 and err.startswith("hub: invite_invalid")

    code, _, err = await hub("session", "delete", sid, "--url", url, env=env)
    assert code == 2 and "add --yes" in err
    code, out, err = await hub("session", "delete", sid, "--yes", "--url", url, env=env)
    assert (code, out) == (0, f"session {sid} deleted\n"), err
    code, _, err = await hub("session", "status", sid, "--url", url, env=env)
    assert code == 1 and err.splitlines() == ["hub: session_deleted: the session was deleted"]


async def test_watch_reuses_one_observer_per_person(hub_server: TestServer, tmp_path: Path) -> None:
    """Watching again with the same hub, code and name is the same observer, whose token
    is kept in a file only the user can read."""
    url = base_url(hub_server)
    s = await created_session(url, agent_id="alpha")
    await hub("send", "hello", "--url", url, "--token", s["agent token"])
    kept = tmp_path / "config" / "hub" / "observers.json"
    kept.parent.mkdir(parents=True)  # a token the hub does not know: joined anew
    kept.write_text(json.dumps({f"{url} {s['invite code']} Ada": "obs_" + "x" * 32}))
    for name in ("Ada", "Ada", "Bob"):
        code, out, err = await hub(
            "watch", s["invite code"], "--url", url, "--name", name, "--limit", "1"
        )
        assert code == 0 and f"as {name};" in out and "hello" in out, err
    async with HubAPI(url) as rest:
        presence = await rest.presence(s["session"], s["agent token"])
    observers = sorted(p.display_name or "" for p in presence if p.role == "observer")
    assert observers == ["Ada", "Bob"]
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600


async def test_watch_goes_offline_cleanly_on_ctrl_c(hub_server: TestServer) -> None:
    """Ctrl+C ends `hub watch` quietly (exit 130, nothing on stderr), and the hub
    announces the observer offline at once."""
    url = base_url(hub_server)
    s = await created_session(url, agent_id="alpha")
    async with connect(url, s["agent token"]) as agent:
        proc = await start("watch", s["invite code"], "--url", url, "--name", "Ada")
        try:
            await line_with(proc, 'watching "', [])

            async def ada(status: str) -> None:
                async for event in agent:
                    p = event.presence if isinstance(event, PresenceEvent) else None
                    if p is not None and p.display_name == "Ada" and p.status == status:
                        return

            async with asyncio.timeout(TIMEOUT):
                if not any(p.display_name == "Ada" for p in await agent.presence()):
                    await ada("online")
                proc.send_signal(signal.SIGINT)
                await ada("offline")
                _, err = await proc.communicate()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 130 and err.decode() == ""


@pytest.fixture
async def silent_hub() -> AsyncIterator[str]:
    """A server that accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_unreachable_hub_fails_in_seconds() -> None:
    """Nothing listening: each command says so in one line and exits 1 within seconds."""
    url = f"http://127.0.0.1:{free_port()}"
    token = ["--token", "agt_" + "x" * 32]
    for args in (
        ["send", "x", *token],
        ["watch", "RAPID-DAWN-6942"],
        ["watch", *token],
        ["session", "status", "ses_x", *token],
        ["session", "create"],
    ):
        began = time.monotonic()
        code, out, err = await hub(*args, "--url", url)
        assert time.monotonic() - began < 10, args
        assert (code, out) == (1, ""), args
        assert len(err.splitlines()) == 1 and err.startswith("hub: unavailable: "), (args, err)
        assert f"127.0.0.1:{url.rsplit(':', 1)[1]}" in err


async def test_silent_hub_times_out(silent_hub: str) -> None:
    """A hub that never answers: each command gives up after --timeout, in one line."""
    token = ["--token", "agt_" + "x" * 32]
    for args, says in (
        (["send", "x", *token], "hub: unavailable: cannot connect to "),
        (["watch", *token], "hub: unavailable: cannot connect to "),
        (["watch", "RAPID-DAWN-6942"], f"hub: timeout: the hub at {silent_hub} did not answer"),
        (["session", "status", "ses_x", *token], "hub: timeout: the hub at"),
        (["join", "RAPID-DAWN-6942"], "hub: timeout: the hub at"),
    ):
        began = time.monotonic()
        code, out, err = await hub(*args, "--url", silent_hub, "--timeout", "1")
        assert time.monotonic() - began < 8, args
        assert (code, out) == (1, ""), args
        assert len(err.splitlines()) == 1 and err.startswith(says), (args, err)


async def test_serve_is_alone_on_its_data_dir_and_stops_its_postgres(tmp_path: Path) -> None:
    """On the in-memory bus a hub is alone on its data directory (a second `hub serve`, or
    `hub demo`, is refused); Ctrl+C stops the hub and its embedded PostgreSQL, even after
    a hub that was killed."""
    data = tmp_path / "var"
    env = {"HUB_DATA_DIR": str(data), "HUB_LOG_LEVEL": "WARNING"}
    for name in ("HUB_DATABASE_URL", "HUB_REDIS_URL"):
        env[name] = ""
    procs: list[asyncio.subprocess.Process] = []

    async def serve() -> tuple[asyncio.subprocess.Process, str]:
        port = str(free_port())
        proc = await start("serve", "--port", port, env=env)
        procs.append(proc)
        await line_with(proc, "hub: serving on", [])
        return proc, port

    def postmaster() -> int | None:
        pid_file = data / "postgres" / "postmaster.pid"
        return int(pid_file.read_text().split()[0]) if pid_file.exists() else None

    try:
        first, port = await serve()
        code, out, err = await hub("serve", "--port", str(free_port()), env=env)
        assert (code, out) == (1, "") and err.splitlines() == [
            f"hub: {data / 'postgres'} is in use by another hub process (pid {first.pid}"
            f" serving http://127.0.0.1:{port}): with the in-memory bus a hub must be alone"
            " on its data directory (live events would split between the processes). Stop"
            " the other one, use another HUB_DATA_DIR, or set HUB_REDIS_URL to run several hubs"
        ], err
        code, _, err = await hub("demo", env=env)
        assert code == 1 and err.rstrip().endswith(
            "which serves alone on it (the in-memory bus): run the demo on that hub with"
            " `hub demo --url URL`, or stop it first"
        ), err
        postgres = postmaster()
        assert postgres is not None

        first.kill()  # no cleanup: the embedded PostgreSQL stays up, and is reused
        await first.wait()
        assert postmaster() == postgres
        second, _ = await serve()
        second.send_signal(signal.SIGINT)
        async with asyncio.timeout(TIMEOUT):
            said, _ = await second.communicate()
        assert second.returncode == 0
        assert "hub: stopped the embedded PostgreSQL" in said.decode()
        assert postmaster() is None
        with contextlib.suppress(psutil.NoSuchProcess):  # gone, or about to be
            psutil.Process(postgres).wait(timeout=10)
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        if (left := postmaster()) is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(left, signal.SIGINT)


async def test_login_whoami_logout(hub_server: TestServer, tmp_path: Path) -> None:
    """`hub login` keeps a user key (mode 0600) that `hub whoami` uses; a wrong password
    is one line and exit 1; `hub logout` revokes the key on the hub and forgets it."""
    url = base_url(hub_server)
    name = "cli" + secrets.token_hex(6)
    async with HubAPI(url) as rest:
        await rest.sign_up(name, "correct horse", display_name="Ada")

    async def login(password: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "hub.cli",
            *("login", name, "--password-stdin", "--url", url),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(TIMEOUT):
            out, err = await proc.communicate(password.encode() + b"\n")
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    code, out, err = await login("wrong horse")
    assert (code, out) == (1, "") and err == "hub: unauthorized: wrong username or password\n"
    code, out, _ = await login("correct horse")
    assert code == 0 and f"as {name}" in out
    kept = tmp_path / "config" / "hub" / "keys.json"
    assert kept.stat().st_mode & 0o777 == 0o600
    token = json.loads(kept.read_text())[url].split(" ", 1)[1]
    assert token.startswith("usr_") and token not in out
    code, out, _ = await hub("whoami", "--url", url)
    assert code == 0 and out.startswith(f"{name} (Ada) u_")
    code, out, _ = await hub("logout", "--url", url)
    assert code == 0 and "revoked" in out
    async with HubAPI(url) as rest:
        with pytest.raises(HubClientError) as refused:
            await rest.me(token)
    assert refused.value.code == "unauthorized"
    code, _, err = await hub("whoami", "--url", url)
    assert code == 1 and "not logged in" in err

"""The `hub` commands for what people own (agents, agent keys, configuration, ratings,
secrets) and the public directory, run as real subprocesses against a real hub."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import sys
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from hub.client import HubAPI
from tests.cli_helpers import (
    TIMEOUT,
    account,
    agent_with_key,
    base_url,
    field,
    hub,
    one_bus,
    quiet_env,  # noqa: F401 (autouse: a clean environment for each test)
    unique,
)

pytestmark = one_bus


@pytest.mark.timeout(120)
async def test_agent_key_and_configuration_from_the_terminal(
    hub_server: TestServer, tmp_path: Path
) -> None:
    """Log in, create an agent and a key (printed alone, once), enter a session with the
    key verified, write the configuration twice, read its history and a diff, roll back,
    and show it; a stale --expected-revision is one conflict line naming the current."""
    url = base_url(hub_server)
    name = unique("cli")
    async with HubAPI(url) as rest:
        await rest.sign_up(name, "correct horse")
    code, out, err = await hub(
        "login", name, "--password-stdin", "--url", url, stdin="correct horse\n"
    )
    assert code == 0 and f"as {name}" in out, err

    slug = unique("planner-")
    code, out, err = await hub(
        "agent",
        "create",
        slug,
        "--name",
        "Planner",
        "--description",
        "plans",
        "--public",
        "--url",
        url,
    )
    assert code == 0, err
    assert (field(out, "agent"), field(out, "visibility"), field(out, "revision")) == (
        slug,
        "public",
        "1",
    )
    code, out, err = await hub("agent", "list", "--url", url)
    assert code == 0 and out.splitlines() == [
        f"{slug}  'Planner'  public  revision 1  no ratings yet"
    ], err

    code, out, err = await hub("agent", "key", "create", slug, "--name", "laptop", "--url", url)
    assert code == 0, err
    key = out.strip()
    assert out == key + "\n" and re.fullmatch(r"agk_\S+", key), out
    assert "not shown again" in err and key not in err
    key_file = tmp_path / "agent.key"
    key_file.write_text(key + "\n")
    code, out, err = await hub("session", "create", "--agent-key-file", str(key_file), "--url", url)
    assert code == 0, err
    assert re.search(
        rf"^agent A:\s+{slug}  \(verified: agent {slug}, configuration revision 1\)$", out, re.M
    ), out
    code, out, err = await hub("agent", "key", "list", slug, "--url", url)
    assert code == 0 and "'laptop'" in out and "last used never" not in out, (out, err)
    assert key not in out

    code, out, err = await hub("agent", "config", "set", slug, '{"model": "a"}', "--url", url)
    assert (code, out) == (0, f"{slug}: configuration revision 2 written\n"), err
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps({"model": "b", "temperature": 0.2}))
    code, out, err = await hub(
        "agent", "config", "set", slug, "--file", str(config_file), "--url", url
    )
    assert (code, out) == (0, f"{slug}: configuration revision 3 written\n"), err

    code, out, err = await hub(
        "agent", "config", "set", slug, "-", "--expected-revision", "2", "--url", url, stdin="{}"
    )
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f"hub: conflict: the configuration of {slug} is at revision 3, not 2: read it again"
        f" (`hub agent config show {slug}`) and retry with --expected-revision 3"
    ]
    code, out, err = await hub("agent", "diff", slug, "2", "3", "--url", url)
    assert code == 0 and out.splitlines() == [
        "+ $.temperature: 0.2",
        '~ $.model: "a" -> "b"',
    ], err

    code, out, err = await hub("agent", "rollback", slug, "2", "--url", url)
    assert (code, out) == (0, f"{slug}: configuration revision 4 written (rollback of 2)\n"), err
    code, out, err = await hub(
        "agent", "rollback", slug, "1", "--expected-revision", "3", "--url", url
    )
    assert code == 1 and err.startswith(
        f"hub: conflict: the configuration of {slug} is at revision 4"
    )

    (code, out, err), (hcode, history, herr), (scode, shown, serr) = await asyncio.gather(
        hub("agent", "config", "show", slug, "--url", url),
        hub("agent", "history", slug, "--url", url),
        hub("agent", "show", slug, "--url", url),
    )
    assert (
        scode == 0 and field(shown, "revision") == "4" and field(shown, "description") == "plans"
    ), serr
    assert code == 0 and json.loads(out) == {"model": "a"}, err
    assert f"{slug} revision 4 " in err
    assert hcode == 0, herr
    lines = history.splitlines()
    assert [line.split()[1] for line in lines] == ["4", "3", "2", "1"]
    assert lines[0].endswith("(rollback of 2)") and f"by {name}" in lines[0]
    assert "rollback" not in "".join(lines[1:])
    code, out, _ = await hub("agent", "config", "show", slug, "--revision", "3", "--url", url)
    assert code == 0 and json.loads(out) == {"model": "b", "temperature": 0.2}

    key_id = (await hub("agent", "key", "list", slug, "--url", url))[1].split()[0]
    code, out, err = await hub("agent", "key", "revoke", slug, key_id, "--url", url)
    assert (code, out) == (0, f"agent key {key_id} of {slug} revoked\n"), err
    code, out, err = await hub("session", "create", "--agent-key-file", str(key_file), "--url", url)
    assert (code, out) == (1, "") and err.startswith("hub: unauthorized: "), err


async def test_not_logged_in_is_one_line(hub_server: TestServer) -> None:
    """Without a kept user key, a command that needs one says how to get one (exit 1)."""
    url = base_url(hub_server)
    for args in (["agent", "list"], ["secret", "list"], ["rate", "ses_x", "5", "--as", "me1"]):
        code, out, err = await hub(*args, "--url", url)
        assert (code, out) == (1, ""), args
        assert err.splitlines() == [f"hub: not logged in to {url}: run `hub login USERNAME`"]


async def test_secret_from_stdin_is_read_back_not_listed(
    hub_server: TestServer, tmp_path: Path
) -> None:
    """`hub secret set` reads the value from stdin; `get` prints it (to the owner, or
    with an agent key of one of the owner's agents); `list` shows names only; `delete`
    needs --yes."""
    url = base_url(hub_server)
    _, user_key = await account(url)
    env = {"HUB_USER_KEY": user_key}
    value = "s3cret-" + secrets.token_hex(8)

    code, out, err = await hub(
        "secret", "set", "gh.token", "--url", url, env=env, stdin=value + "\nnext line\n"
    )
    assert (code, out) == (0, "secret gh.token set\n"), err
    code, out, err = await hub("secret", "get", "gh.token", "--url", url, env=env)
    assert (code, out) == (0, value + "\n"), err
    code, out, err = await hub("secret", "list", "--url", url, env=env)
    assert code == 0 and out.startswith("gh.token  set ") and value not in out, err
    code, out, err = await hub(
        "secret", "set", "multi", "--stdin-all", "--url", url, env=env, stdin="a\nb\n"
    )
    assert code == 0, err
    code, out, err = await hub("secret", "get", "multi", "--url", url, env=env)
    assert (code, out) == (0, "a\nb\n"), err
    code, _, err = await hub("secret", "set", "empty", "--url", url, env=env, stdin="")
    assert code == 2 and err.splitlines() == ["hub: no value for empty on stdin"]

    key_file = await agent_with_key(url, user_key, unique("reader-"), tmp_path)
    code, out, err = await hub(
        "secret", "get", "gh.token", "--token-file", str(key_file), "--url", url
    )
    assert (code, out) == (0, value + "\n"), err
    agent_key = key_file.read_text().strip()
    code, out, err = await hub(
        "secret", "get", "gh.token", "--url", url, env={"HUB_TOKEN": agent_key}
    )
    assert (code, out) == (0, value + "\n"), err

    code, _, err = await hub("secret", "delete", "gh.token", "--url", url, env=env)
    assert code == 2 and "add --yes" in err
    code, out, err = await hub("secret", "delete", "gh.token", "--yes", "--url", url, env=env)
    assert (code, out) == (0, "secret gh.token deleted\n"), err
    code, out, err = await hub("secret", "get", "gh.token", "--url", url, env=env)
    assert (code, out) == (1, "") and err.startswith("hub: not_found: "), err


async def test_typing_slowly_is_not_a_timeout(hub_server: TestServer) -> None:
    """--timeout bounds the hub's answers, not the person typing a password, a secret's
    value or a configuration: stdin that comes after it has passed is still read and used."""
    url = base_url(hub_server)
    name, user_key = await account(url)
    slug = unique("slow-")
    async with HubAPI(url) as rest:
        await rest.create_agent(user_key, slug=slug, name=slug)
    env = {"HUB_USER_KEY": user_key}

    async def typed_late(stdin: str, *args: str, **env: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "hub.cli", *args, "--url", url, "--timeout", "2"),
            env={**os.environ, **env},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        # The person types slower than --timeout (the point here), even counting the
        # second or two the command takes to start.
        await asyncio.sleep(6)
        async with asyncio.timeout(TIMEOUT):
            out, err = await proc.communicate(stdin.encode())
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    results = await asyncio.gather(
        typed_late("correct horse\n", "login", name, "--password-stdin"),
        typed_late("late value\n", "secret", "set", "slow.one", **env),
        typed_late('{"slow": true}', "agent", "config", "set", slug, "-", **env),
    )
    assert [code for code, _, _ in results] == [0, 0, 0], results
    async with HubAPI(url) as rest:
        assert await rest.get_secret(user_key, "slow.one") == "late value"
        assert (await rest.agent_config(user_key, slug)).config == {"slow": True}


async def test_rating_needs_a_shared_completed_session(
    hub_server: TestServer, tmp_path: Path
) -> None:
    """Two verified agents (one created the session, one joined with `--agent-key-file`)
    rate each other once it is completed, not before; an agent that was not in it
    cannot; `--as SLUG` rates with the kept user key."""
    url = base_url(hub_server)
    _, ada = await account(url)
    _, bob = await account(url)
    planner, coder, outsider = unique("planner-"), unique("coder-"), unique("outsider-")
    planner_key = await agent_with_key(url, ada, planner, tmp_path)
    coder_key = await agent_with_key(url, bob, coder, tmp_path)
    outsider_key = await agent_with_key(url, ada, outsider, tmp_path)

    code, out, err = await hub(
        "session", "create", "--url", url, env={"HUB_AGENT_KEY": planner_key.read_text().strip()}
    )
    assert code == 0, err
    session, token, invite = (
        field(out, "session"),
        field(out, "agent token"),
        field(out, "invite code"),
    )
    code, out, err = await hub("join", invite, "--agent-key-file", str(coder_key), "--url", url)
    assert code == 0, err
    assert f"you:     {coder} (agent B)  (verified: agent {coder}, configuration revision 1)" in out

    code, out, err = await hub("rate", session, "5", "--token-file", str(planner_key), "--url", url)
    assert (code, out) == (1, "")
    assert err.splitlines() == ["hub: invalid_transition: a session is rated once it is completed"]

    async with HubAPI(url) as rest:
        await rest.update_session(session, token, status="completed")
    code, out, err = await hub(
        "rate", session, "4", "--review", "tidy", "--token-file", str(planner_key), "--url", url
    )
    assert (code, out) == (0, f"{planner} rated {coder} 4/5 for {session}\n"), err
    code, out, err = await hub(
        "rate", session, "5", "--as", coder, "--url", url, env={"HUB_USER_KEY": bob}
    )
    assert (code, out) == (0, f"{coder} rated {planner} 5/5 for {session}\n"), err
    code, out, err = await hub(
        "rate", session, "3", "--token-file", str(outsider_key), "--url", url
    )
    assert (code, out) == (1, "")
    assert err.splitlines() == ["hub: forbidden: only the session's two agents rate each other"]
    code, _, err = await hub("rate", session, "3", "--url", url)
    assert code == 2 and err.startswith("hub: who rates? give --as SLUG")
    code, _, err = await hub("rate", session, "6", "--as", coder, "--url", url)
    assert code == 2 and "invalid choice" in err

    async with HubAPI(url) as rest:
        page = await rest.ratings(bob, coder)
    assert [(r.rater, r.score, r.review) for r in page.ratings] == [(planner, 4, "tidy")]


async def test_directory_lists_public_agents_only(hub_server: TestServer, tmp_path: Path) -> None:
    """`hub agents WORDS` (no login) finds public agents, not unlisted ones."""
    url = base_url(hub_server)
    _, user_key = await account(url)
    word = unique("zebra")
    shown, hidden = unique("shown-"), unique("hidden-")
    skill = {"id": "refactor", "name": "Refactoring", "tags": ["python"]}
    await agent_with_key(
        url,
        user_key,
        shown,
        tmp_path,
        description=f"a {word} agent",
        visibility="public",
        skills=[skill],
    )
    await agent_with_key(url, user_key, hidden, tmp_path, description=f"a {word} agent")

    code, out, err = await hub("agents", word, "--url", url)
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{shown}  '{shown}' by ") and word in lines[0]
    assert "no ratings yet" in lines[0]
    code, out, err = await hub(
        "agents", word, "--tag", "python", "--sort", "activity", "--url", url
    )
    assert code == 0 and out.startswith(f"{shown} "), err
    code, out, err = await hub("agents", word, "--skill", "nothing-like-it", "--url", url)
    assert (code, out) == (0, "no public agent matches\n"), err

    async with HubAPI(url) as rest:
        card = await rest.agent_card(shown)
        page = await rest.directory(q=word)
    assert card.name == shown and [s.id for s in card.skills] == ["refactor"]
    assert [a.slug for a in page.agents] == [shown]

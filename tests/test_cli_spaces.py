"""The `hub` commands for finding sessions again and grouping them (`hub sessions`,
`hub session watch|move|create --space`, `hub space …`), run as real subprocesses
against a real hub on real PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
from datetime import UTC
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from hub.client import HubAPI
from hub.space_commands import cell, table
from tests.cli_helpers import (
    account,
    agent_with_key,
    base_url,
    field,
    hub,
    one_bus,
    quiet_env,  # noqa: F401 (autouse: a clean environment for each test)
    unique,
)


def rows(output: str) -> list[list[str]]:
    """A table's rows (header first), each split on its column gaps."""
    return [[c.strip() for c in line.split("  ") if c.strip()] for line in output.splitlines()]


@one_bus
@pytest.mark.timeout(180)
async def test_spaces_and_their_members_from_the_terminal(hub_server: TestServer) -> None:
    """An owner creates, lists, shows, edits, archives and unarchives a space, invites by
    username with a role and removes; a viewer sees it but manages nothing; a member
    leaves; the last owner cannot; to a non-member the space does not exist."""
    url = base_url(hub_server)
    (ada_name, ada), (bob_name, bob), (cy_name, cy) = await asyncio.gather(
        account(url), account(url), account(url)
    )
    as_ada, as_bob, as_cy = ({"HUB_USER_KEY": k} for k in (ada, bob, cy))
    slug = unique("team-")

    code, out, err = await hub(
        "space", "create", slug, "--description", "protein work", "--url", url, env=as_ada
    )
    assert code == 0, err
    assert [field(out, f) for f in ("space", "name", "owner", "role", "members")] == [
        slug,
        slug,
        ada_name,
        "owner",
        "1",
    ]
    assert field(out, "id").startswith("spc_") and "protein work" in out
    code, _, err = await hub("space", "create", slug.upper(), "--url", url, env=as_bob)
    assert code == 1 and err.startswith("hub: conflict: "), err

    code, out, err = await hub(
        "space", "edit", slug, "--name", "Protein lab", "--url", url, env=as_ada
    )
    assert code == 0 and "name:        Protein lab\n" in out, err
    code, _, err = await hub("space", "edit", slug, "--url", url, env=as_ada)
    assert (code, err) == (2, "hub: nothing to change: give --name and/or --description\n")

    code, out, err = await hub(
        "space", "invite", slug, bob_name, "--role", "viewer", "--url", url, env=as_ada
    )
    assert (code, out) == (0, f"{bob_name} is a viewer of {slug}\n"), err
    code, out, err = await hub("space", "members", slug, "--url", url, env=as_bob)
    assert code == 0, err
    assert [r[:3] for r in rows(out)] == [
        ["USERNAME", "ROLE", "ADDED BY"],
        [ada_name, "owner", ada_name],
        [bob_name, "viewer", ada_name],
    ]
    code, out, err = await hub("space", "list", "--url", url, env=as_bob)
    assert code == 0 and rows(out) == [
        ["SPACE", "ROLE", "MEMBERS", "STATE", "NAME"],
        [slug, "viewer", "2", "open", "Protein lab"],
    ], err

    # A viewer manages nothing; a non-member is told the space does not exist.
    code, out, err = await hub("space", "invite", slug, cy_name, "--url", url, env=as_bob)
    assert (code, out) == (1, "") and err.startswith("hub: forbidden: "), err
    for args in (
        ["space", "show", slug],
        ["space", "members", slug],
        ["space", "archive", slug],
        ["space", "invite", slug, cy_name],
        ["space", "leave", slug],
        ["sessions", "--space", slug],
    ):
        code, out, err = await hub(*args, "--url", url, env=as_cy)
        assert (code, out) == (1, ""), args
        assert err.splitlines() == [f"hub: not_found: no space {slug!r}"], (args, err)
    code, out, err = await hub("space", "list", "--url", url, env=as_cy)
    assert (code, out) == (0, "no spaces yet: `hub space create SLUG` makes one\n"), err

    code, out, err = await hub("space", "remove", slug, bob_name, "--url", url, env=as_ada)
    assert (code, out) == (0, f"{bob_name} removed from {slug}\n"), err
    code, _, err = await hub("space", "show", slug, "--url", url, env=as_bob)
    assert code == 1 and err.startswith("hub: not_found: "), err
    code, out, err = await hub("space", "invite", slug, bob_name, "--url", url, env=as_ada)
    assert (code, out) == (0, f"{bob_name} is a member of {slug}\n"), err
    code, out, err = await hub("space", "leave", slug, "--url", url, env=as_bob)
    assert (code, out) == (0, f"you ({bob_name}) left {slug}\n"), err
    code, out, err = await hub("space", "leave", slug, "--url", url, env=as_ada)
    assert (code, out) == (1, "") and err.startswith("hub: conflict: "), err

    code, out, err = await hub("space", "archive", slug, "--url", url, env=as_ada)
    assert (code, out) == (
        0,
        f"space {slug} archived: no new sessions in it; its sessions stay readable\n",
    ), err
    code, out, err = await hub("space", "show", slug, "--url", url, env=as_ada)
    assert code == 0 and "archived:    " in out, err
    code, out, err = await hub("space", "list", "--url", url, env=as_ada)
    assert code == 0 and rows(out)[1][:4] == [slug, "owner", "1", "archived"], err
    code, out, err = await hub("space", "unarchive", slug, "--url", url, env=as_ada)
    assert (code, out) == (0, f"space {slug} is open again\n"), err
    async with HubAPI(url) as rest:
        space = await rest.space(ada, slug)
        assert space.archived_at is None and space.name == "Protein lab"
        assert [m.username for m in await rest.space_members(ada, slug)] == [ada_name]


@one_bus
@pytest.mark.timeout(180)
async def test_sessions_filter_by_mode_agent_and_time(
    hub_server: TestServer, tmp_path: Path
) -> None:
    """`hub sessions` takes the filters the REST list takes: --mode, --agent (a verified
    agent's slug), --since (inclusive) and --until (exclusive) as dates or ISO times,
    with --space and --public too; a malformed time is a usage error."""
    url = base_url(hub_server)
    _, ada = await account(url)
    planner, helper = unique("planner-"), unique("helper-")
    planner_key, helper_key = [
        (await agent_with_key(url, ada, slug, tmp_path)).read_text().strip()
        for slug in (planner, helper)
    ]
    slug = unique("lab-")
    async with HubAPI(url) as rest:
        await rest.create_space(ada, slug, "Lab")
        made = [
            (await rest.create_session(agent_key=key, name=name, **fields)).session
            for key, name, fields in (
                (planner_key, "live", {"mode": "realtime", "is_private": False}),
                (planner_key, "slow", {"mode": "async", "workspace_id": slug}),
                (helper_key, "help", {"mode": "realtime", "workspace_id": slug}),
            )
        ]
    as_ada = {"HUB_USER_KEY": ada}

    async def listed(*args: str) -> list[str]:
        code, out, err = await hub("sessions", *args, "--url", url, env=as_ada)
        assert code == 0, err
        return [r[-1] for r in rows(out)[1:]] if out.startswith("SESSION") else []

    assert await listed() == ["help", "slow", "live"]
    assert await listed("--mode", "realtime") == ["help", "live"]
    assert await listed("--agent", planner) == ["slow", "live"]
    assert await listed("--agent", planner, "--mode", "async") == ["slow"]
    assert await listed("--since", made[1].created_at.isoformat()) == ["help", "slow"]
    assert await listed("--until", made[1].created_at.isoformat()) == ["live"]
    today = made[0].created_at.astimezone(UTC).date()
    assert await listed("--since", today.isoformat()) == ["help", "slow", "live"]
    code, out, err = await hub("sessions", "--until", today.isoformat(), "--url", url, env=as_ada)
    assert (code, out) == (0, "no matching sessions\n"), err
    assert await listed("--space", slug, "--mode", "realtime") == ["help"]
    assert await listed("--public", "--agent", planner, "--mode", "realtime") == ["live"]
    assert await listed("--public", "--agent", planner, "--mode", "async") == []
    code, _, err = await hub("sessions", "--since", "last week", "--url", url, env=as_ada)
    assert code == 2 and "not a date or time: 'last week'" in err


@one_bus
@pytest.mark.timeout(180)
async def test_sessions_lists_mine_and_a_spaces_page_by_page(
    hub_server: TestServer, tmp_path: Path
) -> None:
    """`hub sessions` lists the sessions one's verified agents are in, newest first, a
    page at a time (saying how to get more) or every page with --all; --status filters;
    --space lists a space's to its members (a viewer too); `session create --space` puts
    a new session in one; agents of others and sessions outside stay out."""
    url = base_url(hub_server)
    (_, ada), (bob_name, bob), (_, cy) = await asyncio.gather(
        account(url), account(url), account(url)
    )
    planner = unique("planner-")
    planner_key, other_key = await asyncio.gather(
        agent_with_key(url, ada, planner, tmp_path),
        agent_with_key(url, cy, unique("other-"), tmp_path),
    )
    slug = unique("lab-")
    async with HubAPI(url) as rest:
        await rest.create_space(ada, slug, "Lab")
        await rest.set_space_member(ada, slug, bob_name, "viewer")
        made = [
            await rest.create_session(
                agent_key=planner_key.read_text().strip(),
                name=f"run {i}",
                **({"workspace_id": slug} if i % 2 else {}),
            )
            for i in range(5)
        ]
        await rest.create_session(agent_key=other_key.read_text().strip(), name="not ada's")
        await rest.update_session(made[1].session.id, made[1].agent_token, status="completed")

    code, out, err = await hub(
        "session",
        "create",
        "--space",
        slug,
        "--name",
        "run 5",
        "--agent-key-file",
        str(planner_key),
        "--url",
        url,
    )
    assert code == 0, err
    space_id = field(out, "space")
    assert space_id.startswith("spc_")
    ids = [s.session.id for s in made] + [field(out, "session")]
    newest_first = ids[::-1]

    as_ada = {"HUB_USER_KEY": ada}
    code, out, err = await hub("sessions", "--limit", "2", "--url", url, env=as_ada)
    assert code == 0, err
    table_rows = rows(out)
    assert table_rows[0] == ["SESSION", "STATUS", "CREATED", "AGENT A", "AGENT B", "SPACE", "NAME"]
    assert [r[0] for r in table_rows[1:]] == newest_first[:2]
    assert table_rows[1][1] == "waiting" and table_rows[1][3:] == [planner, "-", slug, "run 5"]
    more = err.splitlines()
    assert len(more) == 1 and more[0].startswith("hub: there are more: add --all, or --cursor ")
    cursor = more[0].rsplit(" ", 1)[1]

    (code, out, err), (ccode, cout, cerr) = await asyncio.gather(
        hub("sessions", "--limit", "2", "--all", "--url", url, env=as_ada),
        hub("sessions", "--limit", "2", "--cursor", cursor, "--url", url, env=as_ada),
    )
    assert (code, err) == (0, "")
    listed = rows(out)
    assert [r[0] for r in listed[1:]] == newest_first
    assert [r[5] for r in listed[1:]] == [slug, "-", slug, "-", slug, "-"]
    assert ccode == 0 and [r[0] for r in rows(cout)[1:]] == newest_first[2:4], cerr

    code, out, err = await hub("sessions", "--status", "completed", "--url", url, env=as_ada)
    assert code == 0 and [r[0] for r in rows(out)[1:]] == [ids[1]], err
    code, out, err = await hub(
        "sessions", "--status", "paused", "--space", slug, "--url", url, env=as_ada
    )
    assert (code, out) == (0, f"no paused sessions in {slug}\n"), err

    # A viewer lists the space's sessions (its own agents are in none of them).
    code, out, err = await hub(
        "sessions",
        "--space",
        slug,
        "--limit",
        "1",
        "--all",
        "--url",
        url,
        env={"HUB_USER_KEY": bob},
    )
    assert code == 0, err
    space_rows = rows(out)
    assert space_rows[0] == ["SESSION", "STATUS", "CREATED", "AGENT A", "AGENT B", "NAME"]
    assert [r[0] for r in space_rows[1:]] == [ids[5], ids[3], ids[1]]
    code, out, err = await hub("sessions", "--url", url, env={"HUB_USER_KEY": bob})
    assert (code, out) == (0, "no sessions of your agents yet\n"), err
    code, out, err = await hub("sessions", "--url", url, env={"HUB_USER_KEY": cy})
    assert code == 0 and [r[-1] for r in rows(out)[1:]] == ["not ada's"], err

    async with HubAPI(url) as rest:
        await rest.update_space(ada, slug, archived=True)
    code, out, err = await hub(
        "session", "create", "--space", slug, "--agent-key-file", str(planner_key), "--url", url
    )
    assert (code, out) == (1, "") and err.startswith("hub: forbidden: "), err
    code, out, err = await hub("session", "create", "--space", slug, "--url", url)
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        "hub: forbidden: only a verified agent (an agent key) creates sessions in a space"
    ]


@one_bus
@pytest.mark.timeout(180)
async def test_watch_and_move_a_session_with_the_user_key(
    hub_server: TestServer, tmp_path: Path
) -> None:
    """`hub session watch` follows one of one's agents' sessions (or a space's) as an
    observer of one's own, kept and reused the next time; --print-token prints a new
    token; `hub session move` takes it into a space and out; others are refused."""
    url = base_url(hub_server)
    (_, ada), (bob_name, bob), (_, cy) = await asyncio.gather(
        account(url), account(url), account(url)
    )
    planner = unique("planner-")
    planner_key = await agent_with_key(url, ada, planner, tmp_path)
    slug = unique("lab-")
    async with HubAPI(url) as rest:
        space = await rest.create_space(ada, slug, "Lab")
        await rest.set_space_member(ada, slug, bob_name, "viewer")
        created = await rest.create_session(
            agent_key=planner_key.read_text().strip(), name="watched"
        )
        session, agent_token = created.session.id, created.agent_token
        await rest.send(session, agent_token, "hello, watchers")

    as_ada, as_bob, as_cy = ({"HUB_USER_KEY": k} for k in (ada, bob, cy))
    watch = ("session", "watch", session, "--limit", "1", "--url", url)
    code, out, err = await hub(*watch, "--name", "Ada", env=as_ada)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == 'watching "watched" (waiting, async) as Ada; Ctrl+C to stop', out
    assert any(line.endswith(f"{planner} (agent A): hello, watchers") for line in lines), out
    kept_file = Path(os.environ["XDG_CONFIG_HOME"]) / "hub" / "observers.json"
    kept = json.loads(kept_file.read_text())
    assert list(kept) == [f"{url} {session} Ada"] and kept[f"{url} {session} Ada"].startswith(
        "obs_"
    )
    code, out, err = await hub(*watch, "--name", "Ada", env=as_ada)
    assert code == 0 and "hello, watchers" in out, err

    code, out, err = await hub(
        "session", "watch", session, "--print-token", "--url", url, env=as_ada
    )
    assert code == 0, err
    token = out.strip()
    assert out == token + "\n" and token.startswith("obs_") and token not in kept.values()
    async with HubAPI(url) as rest:
        assert (await rest.session(session, token)).name == "watched"
        joined = [
            a for a in await rest.activity(session, agent_token) if a.action == "observer.joined"
        ]
    assert len(joined) == 2  # watching twice was one observer; --print-token the other

    for who in (as_bob, as_cy):  # not yet in bob's space; never one of cy's
        code, out, err = await hub(*watch, env=who)
        assert (code, out) == (1, "")
        assert err.splitlines() == [
            "hub: session_not_found: no such session among your agents' or spaces'"
        ]
    code, out, err = await hub("session", "move", session, "--space", slug, "--url", url, env=as_cy)
    assert (code, out) == (1, "") and err.startswith("hub: "), err

    code, out, err = await hub(
        "session", "move", session, "--space", slug, "--url", url, env=as_ada
    )
    assert (code, out) == (0, f"session {session} moved to {slug}\n"), err
    code, out, err = await hub(*watch, "--name", "Bob", env=as_bob)
    assert code == 0 and "hello, watchers" in out, err
    code, out, err = await hub("session", "move", session, "--none", "--url", url, env=as_bob)
    assert (code, out) == (1, "") and err.startswith("hub: "), err
    async with HubAPI(url) as rest:
        assert (await rest.session(session, agent_token)).workspace_id == space.id
    code, out, err = await hub("session", "move", session, "--none", "--url", url, env=as_ada)
    assert (code, out) == (0, f"session {session} is in no space now\n"), err
    async with HubAPI(url) as rest:
        assert (await rest.session(session, agent_token)).workspace_id is None

    # Moving it out revoked the token bob watched with through the space: back in the
    # space, watching again finds the kept token refused and observes anew.
    bobs = f"{url} {session} Bob"
    revoked = json.loads(kept_file.read_text())[bobs]
    code, out, err = await hub(*watch, "--name", "Bob", env=as_bob)
    assert (code, out) == (1, "") and err.startswith("hub: session_not_found: "), err
    code, out, err = await hub(
        "session", "move", session, "--space", slug, "--url", url, env=as_ada
    )
    assert code == 0, err
    code, out, err = await hub(*watch, "--name", "Bob", env=as_bob)
    assert code == 0 and "hello, watchers" in out, err
    assert json.loads(kept_file.read_text())[bobs] not in (revoked, None)

    for args in (["--space", slug, "--none"], []):
        code, _, err = await hub("session", "move", session, *args, "--url", url, env=as_ada)
        assert code == 2 and "usage:" in err, args


@one_bus
async def test_not_logged_in_is_one_line(hub_server: TestServer) -> None:
    """Every command here needs the kept user key: without one, one line says how to
    get one (exit 1)."""
    url = base_url(hub_server)
    for args in (
        ["sessions"],
        ["session", "watch", "ses_x"],
        ["session", "move", "ses_x", "--none"],
        ["space", "list"],
        ["space", "leave", "lab"],
    ):
        code, out, err = await hub(*args, "--url", url)
        assert (code, out) == (1, ""), args
        assert err.splitlines() == [f"hub: not logged in to {url}: run `hub login USERNAME`"]


@one_bus
@pytest.mark.timeout(180)
async def test_nasty_inputs_are_refused_or_shown_harmless(
    hub_server: TestServer, tmp_path: Path
) -> None:
    """Names with newlines, terminal escapes and wide characters stay on their row, with
    control characters escaped; odd space refs, usernames, session ids, cursors and page
    sizes are one error line each; no space or session changes."""
    url = base_url(hub_server)
    ada_name, ada = await account(url)
    as_ada = {"HUB_USER_KEY": ada}
    planner_key = await agent_with_key(url, ada, unique("planner-"), tmp_path)
    slug = unique("odd-")
    evil = "evil\x1b[2J\nrm -rf /\r\x07"
    async with HubAPI(url) as rest:
        await rest.create_space(ada, slug, "名前\tlab")
        created = await rest.create_session(
            agent_key=planner_key.read_text().strip(), name=evil, workspace_id=slug
        )
    session = created.session.id

    code, out, err = await hub("sessions", "--url", url, env=as_ada)
    assert code == 0, err
    assert len(out.splitlines()) == 2 and "\x1b" not in out and "\r" not in out
    assert out.splitlines()[1].endswith("evil\\x1b[2J\\nrm -rf /\\r\\x07")
    code, out, err = await hub("space", "list", "--url", url, env=as_ada)
    assert code == 0 and out.splitlines()[1].endswith("名前\\tlab"), err
    code, out, err = await hub("space", "show", slug, "--url", url, env=as_ada)
    assert code == 0 and "name:        名前\\tlab\n" in out, err

    refs = ["../etc", "a/b", "%2e%2e", "x" * 5000, "spc_" + "!" * 21, "", " "]
    for ref in refs:
        code, out, err = await hub("space", "show", ref, "--url", url, env=as_ada)
        assert (code, out) == (1, ""), ref
        assert len(err.splitlines()) == 1 and err.startswith("hub: not_found: "), (ref, err)
    for name in ("../x", "a b", "x" * 5000, ada_name + "/members"):
        code, out, err = await hub("space", "invite", slug, name, "--url", url, env=as_ada)
        assert (code, out) == (1, "") and err.startswith("hub: not_found: "), (name, err)
    code, _, err = await hub("space", "invite", slug, ada_name, "--role", "admin", "--url", url)
    assert code == 2 and "invalid choice" in err
    code, out, err = await hub("space", "create", "spc_lookalike", "--url", url, env=as_ada)
    assert (code, out) == (1, "") and err.startswith("hub: bad_request: "), err
    code, out, err = await hub("space", "edit", slug, "--name", "x" * 101, "--url", url, env=as_ada)
    assert (code, out) == (1, "") and err.startswith("hub: bad_request: "), err

    for bad in ("0", "101", "-1", "ten"):
        code, out, err = await hub("sessions", "--limit", bad, "--url", url, env=as_ada)
        assert (code, out) == (2, "") and "--limit" in err, bad
    for cursor in ("garbage", "x" * 200, "%00"):
        code, out, err = await hub("sessions", "--cursor", cursor, "--url", url, env=as_ada)
        assert (code, out) == (1, "") and err.startswith("hub: bad_request: "), (cursor, err)

    for sid in ("../../api/spaces", "ses_" + "x" * 5000, "ses_x?y=1"):
        for args in (
            ["session", "watch", sid, "--print-token"],
            ["session", "move", sid, "--none"],
        ):
            code, out, err = await hub(*args, "--url", url, env=as_ada)
            assert (code, out) == (1, ""), args
            assert len(err.splitlines()) == 1 and err.startswith("hub: "), (args, err)
            assert "session_not_found" in err or "not_found" in err, (args, err)

    async with HubAPI(url) as rest:
        assert [s.slug for s in await rest.spaces(ada)] == [slug]
        assert (await rest.session(session, created.agent_token)).workspace_id is not None


def test_a_table_aligns_wide_characters_and_escapes_control_ones() -> None:
    """Columns line up under wide (CJK) characters; a newline or escape in a value is
    written as an escape, so every row is one line."""
    assert cell("a\nb\x1b[0m") == "a\\nb\\x1b[0m" and cell("名前 ok") == "名前 ok"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        table(["A", "B", "C"], [["名前", "x", "last\nline"], ["ab", "yy", "z"]])
    assert printed.getvalue().splitlines() == [
        "A     B   C",
        "名前  x   last\\nline",
        "ab    yy  z",
    ]

"""`hub note …` and `hub file …`: a session's notes and files as they stand and every
version each had, read with a session token from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from tests.helpers import HubClient
from tests.test_cli import base_url, hub, quiet_env

__all__ = ["quiet_env"]


async def test_notes_and_files_with_their_versions(
    hub_server: TestServer, client: HubClient, tmp_path: Path
) -> None:
    """Two edits of a note and two writes of a file: `list`, `show` (latest and an old
    version), `history` (newest first, tied to messages) and `diff`; an unknown note,
    another session's token and a bad version are one-line errors."""
    url = base_url(hub_server)
    status, made = await client.call("POST", "/api/sessions", json={})
    sid, token = made["session"]["id"], made["agent_token"]
    notes = f"/api/sessions/{sid}/notes"
    status, note = await client.call(
        "POST",
        notes,
        token=token,
        json={"title": "Plan", "content": "step one\n", "expected_version": 0},
    )
    assert status == 201, note
    await client.call(
        "POST",
        f"/api/sessions/{sid}/messages",
        token=token,
        json={"client_msg_id": "m1", "content": "between"},
    )
    status, _ = await client.call(
        "PUT",
        f"{notes}/{note['id']}",
        token=token,
        json={"content": "step one\nstep two\n", "expected_version": 1},
    )
    assert status == 200
    for content in ("a = 1\n", "a = 2\n"):
        status, _ = await client.call(
            "PUT", f"/api/sessions/{sid}/files/src/a.py", token=token, json={"content": content}
        )
        assert status in (200, 201)
    (tmp_path / "token").write_text(token)
    auth = ("--url", url, "--token-file", str(tmp_path / "token"))
    nid = str(note["id"])

    code, out, err = await hub("note", "list", sid, *auth)
    assert code == 0, err
    assert f"#{nid}  v2  Plan" in out
    code, out, err = await hub("note", "show", sid, nid, *auth)
    assert (code, out.splitlines()[1:]) == (0, ["step one", "step two"]), err
    code, out, err = await hub("note", "show", sid, nid, "--version", "1", *auth)
    assert out.splitlines()[0].endswith("after message #0)") and "step two" not in out, out
    code, out, err = await hub("note", "history", sid, nid, *auth)
    lines = out.splitlines()
    assert [ln.split()[0] for ln in lines] == ["v2", "v1"], out
    assert "after #1" in lines[0] and "after #0" in lines[1]
    code, out, err = await hub("note", "diff", sid, nid, "1", "2", *auth)
    assert code == 0 and "+step two" in out.splitlines(), out

    code, out, err = await hub("file", "list", sid, *auth)
    assert code == 0 and out.startswith("src/a.py  v2"), (out, err)
    code, out, err = await hub("file", "show", sid, "src/a.py", "--version", "1", *auth)
    assert out == "a = 1\n", out
    code, out, err = await hub("file", "history", sid, "src/a.py", *auth)
    assert [ln.split()[0] for ln in out.splitlines()] == ["v2", "v1"], out
    code, out, err = await hub("file", "diff", sid, "src/a.py", "1", "2", *auth)
    assert {"-a = 1", "+a = 2"} <= set(out.splitlines()), out

    status, other = await client.call("POST", "/api/sessions", json={})
    refusals = (
        (("note", "show", sid, "999999", *auth), "not_found"),
        (("note", "diff", sid, nid, "1", "7", *auth), "not_found"),
        (("note", "list", sid, "--url", url, "--token", other["agent_token"]), "forbidden"),
    )
    for args, code_name in refusals:
        code, out, err = await hub(*args)
        assert code != 0 and err.startswith(f"hub: {code_name}:") and len(err.splitlines()) == 1, (
            args,
            err,
        )


@pytest.fixture(autouse=True)
def _quiet(quiet_env: None) -> None:
    """Each test with its own config folder (see tests/test_cli.py)."""

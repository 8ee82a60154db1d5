"""`hub send --attach FILE` and `hub attachment get|list`: attachments from the
command line, as real subprocesses."""

from __future__ import annotations

import os
from pathlib import Path

from aiohttp.test_utils import TestServer

from tests.cli_helpers import base_url, hub, one_bus, quiet_env

__all__ = ["quiet_env"]


@one_bus
async def test_send_attach_then_get(hub_server: TestServer, tmp_path: Path) -> None:
    """`hub send --attach` twice uploads both files and names them on the message;
    `hub attachment list` shows them; `get -o FILE` saves one byte for byte (and to
    stdout); a missing file or an unknown id is a one-line error."""
    url = base_url(hub_server)
    code, created, _ = await hub("session", "create", "--url", url)
    assert code == 0
    token = next(line.split()[-1] for line in created.splitlines() if "agt_" in line)
    env = {"HUB_TOKEN": token}
    data = os.urandom(300_000)
    (tmp_path / "run.bin").write_bytes(data)
    (tmp_path / "notes.txt").write_text("hello\n")
    code, sent, err = await hub(
        "send",
        "results",
        "--attach",
        str(tmp_path / "run.bin"),
        "--attach",
        str(tmp_path / "notes.txt"),
        "--url",
        url,
        env=env,
    )
    assert code == 0, err
    ids = sent.split("(attached: ")[1].rstrip(")\n").split(", ")
    assert len(ids) == 2 and all(i.startswith("att_") for i in ids)
    code, listed, err = await hub("attachment", "list", "--url", url, env=env)
    assert code == 0, err
    lines = listed.splitlines()
    assert [line.split()[0] for line in lines] == ids
    assert "application/octet-stream" in lines[0] and lines[0].endswith("run.bin")
    assert "text/plain" in lines[1]
    out = tmp_path / "copy.bin"
    code, _, err = await hub("attachment", "get", ids[0], "-o", str(out), "--url", url, env=env)
    assert code == 0 and out.read_bytes() == data and "300000 bytes" in err
    code, text, _ = await hub("attachment", "get", ids[1], "--url", url, env=env)
    assert code == 0 and text == "hello\n"
    code, _, err = await hub("send", "x", "--attach", str(tmp_path / "nope"), "--url", url, env=env)
    assert code == 1 and err.strip() == f"hub: --attach {tmp_path / 'nope'}: no such file"
    code, _, err = await hub("attachment", "get", "att_" + "q" * 21, "--url", url, env=env)
    assert code == 1 and err.startswith("hub: not_found: ")

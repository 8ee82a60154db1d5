"""Exporting a session over real HTTP, the SDK and the command line: the JSON document
holds everything (every message, every note, file and artifact version, the uploads'
metadata, the activity log), read
from one snapshot while writes go on; the Markdown transcript keeps hostile text inside
its fences; tokens are checked; a process streams a bounded number of exports; an export
that fails mid-stream is cut short where the reader can tell."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import msgspec
import pytest
from markdown_it import MarkdownIt

from hub import api
from hub.client import HubAPI, HubClientError
from hub.domain.artifacts import Table
from hub.store.exports import APPLICATION_NAME
from tests.cli_helpers import hub, one_bus
from tests.helpers import HubClient

pytestmark = one_bus  # an export is read from PostgreSQL; the bus plays no part

FILE_NAME = re.compile(r'^attachment; filename="ses_[A-Za-z0-9_-]+(-[a-z0-9-]+)?\.(json|md)"$')


async def seed_messages(database_url: str, session_id: str, count: int, size: int) -> None:
    """`count` messages of about `size` bytes each, as the group commit would have
    stored them (ids 1..count, the session's counter moved on)."""
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO messages (session_id, id, author_id, author_role, content)"
                " SELECT $1, n, 'seeder', 'agent_a', n || ' ' || repeat('x', $2)"
                " FROM generate_series(1, $3) AS n",
                session_id,
                size,
                count,
            )
            await conn.execute(
                "UPDATE sessions SET last_message_id = $2 WHERE id = $1", session_id, count
            )
    finally:
        await conn.close()


async def export_backends(database_url: str) -> int:
    """How many exports hold a transaction open in this test's database now."""
    conn = await asyncpg.connect(database_url)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = $1",
                APPLICATION_NAME,
            )
        )
    finally:
        await conn.close()


async def busy_session(client: HubClient) -> dict[str, Any]:
    """A session where A, B and an observer wrote messages, notes (edited twice) and
    files (one written twice)."""
    s = await client.session_with_b()
    status, joined = await client.join(s["invite"], role="observer", display_name="Olga")
    assert status == 201, joined
    s["olga"] = joined["token"]
    base = f"/api/sessions/{s['id']}"
    for token, text in ((s["a"], "hello"), (s["b"], "hi A"), (s["olga"], "watching")):
        status, _ = await client.call(
            "POST", base + "/messages", token=token, json={"content": text, "client_msg_id": text}
        )
        assert status == 201
    status, note = await client.call(
        "POST",
        base + "/notes",
        token=s["a"],
        json={"title": "Plan", "content": "v1", "expected_version": 0},
    )
    assert status == 201, note
    for version, token in ((1, s["b"]), (2, s["olga"])):
        status, _ = await client.call(
            "PUT",
            f"{base}/notes/{note['id']}",
            token=token,
            json={"content": f"v{version + 1}", "expected_version": version},
        )
        assert status == 200
    for path, content in (("src/a.py", "one"), ("src/a.py", "two"), ("README.md", "# r")):
        status, _ = await client.call(
            "PUT", f"{base}/files/{path}", token=s["a"], json={"content": content}
        )
        assert status == 200
    s["note_id"] = note["id"]
    return s


async def test_json_export_holds_everything(client: HubClient) -> None:
    """An observer's JSON export decodes as the documented shape and holds every
    message, every version of every note and file, the notes and files as they stand,
    the participants and the whole activity log, in order, ending `complete`."""
    s = await busy_session(client)
    async with client.http.get(
        f"{client.base}/api/sessions/{s['id']}/export",
        headers={"Authorization": f"Bearer {s['olga']}"},
    ) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
        assert FILE_NAME.match(resp.headers["Content-Disposition"])
        assert resp.headers["Content-Disposition"].endswith('.json"')
        assert resp.headers.get("Transfer-Encoding") == "chunked"
        raw = await resp.read()
    doc = msgspec.json.decode(raw, type=api.SessionExport)
    assert doc.format == "hub.session-export" and doc.version == 1 and doc.complete
    assert list(msgspec.json.decode(raw))[-1] == "complete"  # the last key
    assert doc.session.id == s["id"] and doc.session.last_message_id == 3
    assert [(m.id, m.content) for m in doc.messages] == [(1, "hello"), (2, "hi A"), (3, "watching")]
    names = {p.participant_id: (p.role, p.display_name) for p in doc.participants}
    assert names["bee"] == ("agent_b", None) and ("observer", "Olga") in names.values()
    assert [(v.note_id, v.version, v.content) for v in doc.note_versions] == [
        (s["note_id"], 1, "v1"),
        (s["note_id"], 2, "v2"),
        (s["note_id"], 3, "v3"),
    ]
    assert [(n.id, n.version, n.content) for n in doc.notes] == [(s["note_id"], 3, "v3")]
    assert [(f.path, f.version, f.content) for f in doc.file_versions] == [
        ("README.md", 1, "# r"),
        ("src/a.py", 1, "one"),
        ("src/a.py", 2, "two"),
    ]
    assert [(f.path, f.version, f.content) for f in doc.files] == [
        ("README.md", 1, "# r"),
        ("src/a.py", 2, "two"),
    ]
    async with HubAPI(client.base) as sdk:
        activity = await sdk.activity(s["id"], s["a"], limit=1000)
        history = [m async for m in sdk.all_messages(s["id"], s["a"])]
    assert doc.activity == activity and len(activity) >= 8
    assert doc.messages == history


async def test_json_export_holds_uploads_and_every_artifact_version(client: HubClient) -> None:
    """The JSON export holds every upload's metadata (not its bytes), oldest first, the
    artifacts as they stand and every version of each with its data and the message it
    was written at, exactly as the attachment and artifact routes give them."""
    s = await client.session_with_b()
    base = f"/api/sessions/{s['id']}"
    ids = []
    for data, name in ((b"first", "a.txt"), (b"second", "b.txt"), (b"first", "c.txt")):
        async with client.http.post(
            f"{client.base}{base}/attachments",
            data=data,
            params={"name": name},
            headers={"Authorization": f"Bearer {s['a']}", "Content-Type": "text/plain"},
        ) as resp:
            assert resp.status == 201
            ids.append((await resp.json())["id"])
    status, _ = await client.call(
        "POST",
        base + "/messages",
        token=s["b"],
        json={"content": "files", "client_msg_id": "f", "attachment_ids": ids[:2]},
    )
    assert status == 201
    table = {"kind": "table", "columns": ["k"], "rows": [["v1"]]}
    status, art = await client.call(
        "POST",
        base + "/artifacts",
        token=s["a"],
        json={"message_id": 1, "title": "T", "data": table},
    )
    assert status == 201, art
    status, _ = await client.call(
        "POST", base + "/messages", token=s["a"], json={"content": "two", "client_msg_id": "2"}
    )
    status, art = await client.call(
        "PUT",
        f"{base}/artifacts/{art['id']}",
        token=s["b"],
        json={"expected_version": 1, "data": {**table, "rows": [["v2"], ["longer"]]}},
    )
    assert status == 200 and art["version"] == 2
    status, _ = await client.call(
        "POST",
        base + "/artifacts",
        token=s["b"],
        json={"message_id": 2, "title": "P", "data": {"kind": "image", "attachment_id": ids[1]}},
    )
    assert status == 201
    async with HubAPI(client.base) as sdk:
        raw = await sdk.export(s["id"], s["obs"])
    doc = msgspec.json.decode(raw)
    tail = ["attachments", "artifacts", "artifact_versions", "activity", "complete"]
    assert list(doc)[-5:] == tail
    listed = await client.call("GET", base + "/attachments", token=s["a"])
    assert doc["attachments"] == listed[1]["attachments"] and len(doc["attachments"]) == 3
    assert all("content" not in a and "data" not in a for a in doc["attachments"])
    gallery = await client.call("GET", base + "/artifacts", token=s["a"])
    assert doc["artifacts"] == gallery[1]["artifacts"][::-1]
    versions = []
    for made in doc["artifacts"]:
        for v in range(1, made["version"] + 1):
            status, one = await client.call(
                "GET", f"{base}/artifacts/{made['id']}/versions/{v}", token=s["a"]
            )
            versions.append(one)
    assert doc["artifact_versions"] == versions
    assert [(v["version"], v["at_message_id"]) for v in versions] == [(1, 1), (2, 2), (1, 2)]
    assert doc["artifacts"][0]["size"] == len(msgspec.json.encode(doc["artifacts"][0]["data"]))
    typed = msgspec.json.decode(raw, type=api.SessionExport)
    assert [a.id for a in typed.attachments] == ids and isinstance(
        typed.artifact_versions[1].data, Table
    )


async def test_export_of_an_empty_session(client: HubClient) -> None:
    """A session with nothing in it exports as a whole document with empty sections,
    and as a transcript that says so."""
    s = await client.session_with_b()
    async with HubAPI(client.base) as sdk:
        doc = msgspec.json.decode(await sdk.export(s["id"], s["a"]), type=api.SessionExport)
        text = (await sdk.export(s["id"], s["b"], "markdown")).decode()
    assert doc.complete and doc.messages == doc.notes == doc.files == doc.note_versions == []
    assert doc.activity[0].action == "session.created"
    assert "No messages yet." in text and "No notes yet." in text and "No files yet." in text
    assert "No artifacts yet." in text


HOSTILE = [
    "```\n# not a heading\n```",
    "````\n````` five\n`",
    "</pre><script>alert(1)</script>\n[click](javascript:alert(1))",
    "    indented\n---\n===\n> quote\n- item\n1. one",
    "[ref]: http://evil.example\n<!-- comment",
    "~~~\ntilde fence\n~~~",
    "\r\nline\rbreaks\r\n",
    "",
]


async def test_markdown_keeps_hostile_text_in_its_place(client: HubClient) -> None:
    """A CommonMark parser reads the transcript as exactly the headings and fences the
    hub wrote: every message, note and file content comes back verbatim from its own
    fence, and names, titles (of notes and artifacts) and paths render as their literal
    text."""
    s = await client.session_with_b(name="# Boom\n[x](y) *z* `q` <b>")
    status, joined = await client.join(s["invite"], role="observer", display_name="*Eve* ## `x`")
    assert status == 201
    eve = joined["token"]
    base = f"/api/sessions/{s['id']}"
    for i, text in enumerate(HOSTILE):
        status, _ = await client.call(
            "POST", base + "/messages", token=eve, json={"content": text, "client_msg_id": f"h{i}"}
        )
        assert status == 201
    note_text = "```\n## not a section\n````"
    status, _ = await client.call(
        "POST",
        base + "/notes",
        token=eve,
        json={"title": "](x) # `t`", "content": note_text, "expected_version": 0},
    )
    assert status == 201
    status, _ = await client.call(
        "PUT", base + "/files/docs/a_b*c[1].md", token=s["a"], json={"content": "`````\n# f\n"}
    )
    assert status == 200
    table = {"kind": "table", "columns": ["k"], "rows": [["v"]]}
    artifact = {"message_id": 2, "title": "# A ](x) *y* `z` <i>", "data": table}
    status, made = await client.call("POST", base + "/artifacts", token=s["b"], json=artifact)
    assert status == 201, made
    async with HubAPI(client.base) as sdk:
        raw = await sdk.export(s["id"], eve, "markdown")
    tokens = MarkdownIt("commonmark").parse(raw.decode())
    headings = [
        (tok.tag, tokens[i + 1].content)
        for i, tok in enumerate(tokens)
        if tok.type == "heading_open"
    ]
    assert [tag for tag, _ in headings] == ["h1", "h2"] + ["h3"] * len(HOSTILE) + [
        "h2",
        "h3",
        "h2",
        "h3",
        "h2",
        "h3",
    ]
    fences = [tok.content for tok in tokens if tok.type == "fence"]
    assert fences[: len(HOSTILE)] == [
        t.replace("\r\n", "\n").replace("\r", "\n") + ("\n" if t and not t.endswith("\n") else "")
        for t in HOSTILE
    ]
    assert fences[len(HOSTILE) :] == [note_text + "\n", "`````\n# f\n"]
    assert not [tok for tok in tokens if tok.type in ("html_block", "hr", "blockquote_open")]
    inline = [tok for tok in tokens if tok.type == "inline"]
    children = [child for tok in inline for child in tok.children or []]
    kinds = {child.type for child in children}
    assert not {"link_open", "strong_open", "code_inline", "html_inline", "image"} & kinds
    emphasised = [children[k + 1].content for k, c in enumerate(children) if c.type == "em_open"]
    assert emphasised and all(e.startswith(("note ", "version ", "artifact ")) for e in emphasised)
    rendered = MarkdownIt("commonmark").render(raw.decode())
    assert "<h1># Boom [x](y) *z* `q` &lt;b&gt;</h1>" in rendered
    assert "*Eve* ## `x` (observer)" in rendered
    assert "<h3>](x) # `t`</h3>" in rendered and "<h3>docs/a_b*c[1].md</h3>" in rendered
    assert "<h3># A ](x) *y* `z` &lt;i&gt;</h3>" in rendered


async def test_markdown_lists_the_artifacts_and_the_messages_they_are_on(
    client: HubClient,
) -> None:
    """After the files, the transcript lists each artifact as it stands: its title, kind,
    version, the message it is on, its size and who last edited it; not its data."""
    s = await client.session_with_b()
    base = f"/api/sessions/{s['id']}"
    for i in range(2):
        status, _ = await client.call(
            "POST",
            base + "/messages",
            token=s["a"],
            json={"content": f"m{i}", "client_msg_id": f"m{i}"},
        )
        assert status == 201
    table = {"kind": "table", "columns": ["k"], "rows": [["secret-cell"]]}
    status, first = await client.call(
        "POST",
        base + "/artifacts",
        token=s["a"],
        json={"message_id": 2, "title": "Scores", "data": table},
    )
    assert status == 201, first
    status, first = await client.call(
        "PUT",
        f"{base}/artifacts/{first['id']}",
        token=s["b"],
        json={"expected_version": 1, "data": {**table, "rows": [["second-cell"]]}},
    )
    assert status == 200, first
    free = {"kind": "json", "value": {"a": 1}}
    status, second = await client.call(
        "POST",
        base + "/artifacts",
        token=s["b"],
        json={"message_id": 1, "title": "Raw", "data": free},
    )
    assert status == 201, second
    async with HubAPI(client.base) as sdk:
        text = (await sdk.export(s["id"], s["obs"], "markdown")).decode()
    files = text.index("## Files")
    listed = text[text.index("## Artifacts\n\n", files) :]
    assert listed.split("### ")[1:] == [
        f"Scores\n\n*artifact {first['id']}, table, version 2, on message #2,"
        f" {first['size']} bytes, last edited by bee at {at(first['updated_at'])}*\n\n",
        f"Raw\n\n*artifact {second['id']}, json, version 1, on message #1,"
        f" {second['size']} bytes, last edited by bee at {at(second['updated_at'])}*\n\n",
    ]
    assert "secret-cell" not in text and "second-cell" not in text


def at(iso: str) -> str:
    """A time as the transcript writes it."""
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


async def test_snapshot_is_consistent_while_writes_go_on(
    client: HubClient, database_url: str
) -> None:
    """Messages, a note edit and a file write committed while an export streams are all
    left out of it (it shows the session as of its start, with no torn state), and all
    in the next export."""
    s = await client.session_with_b()
    base = f"/api/sessions/{s['id']}"
    status, note = await client.call(
        "POST",
        base + "/notes",
        token=s["a"],
        json={"title": "Plan", "content": "before", "expected_version": 0},
    )
    assert status == 201
    await seed_messages(database_url, s["id"], 12_000, 2_000)  # ~25 MB: stays in flight
    async with client.http.get(
        f"{client.base}{base}/export", headers={"Authorization": f"Bearer {s['b']}"}
    ) as resp:
        head = await resp.content.readany()
        assert b'"last_message_id":12000' in head
        assert await export_backends(database_url) == 1  # still reading, mid-stream
        for i in range(5):
            status, _ = await client.call(
                "POST",
                base + "/messages",
                token=s["a"],
                json={"content": f"during {i}", "client_msg_id": f"d{i}"},
            )
            assert status == 201
        status, _ = await client.call(
            "PUT",
            f"{base}/notes/{note['id']}",
            token=s["b"],
            json={"content": "during", "expected_version": 1},
        )
        assert status == 200
        status, _ = await client.call(
            "PUT", base + "/files/late.txt", token=s["a"], json={"content": "late"}
        )
        assert status == 200
        assert await export_backends(database_url) == 1  # the writes came mid-stream
        raw = head + await resp.read()
    doc = msgspec.json.decode(raw, type=api.SessionExport)
    assert len(doc.messages) == 12_000 and doc.messages[-1].id == 12_000
    assert [m.id for m in doc.messages] == list(range(1, 12_001))
    assert [(v.version, v.content) for v in doc.note_versions] == [(1, "before")]
    assert doc.notes[0].content == "before" and doc.files == doc.file_versions == []
    assert all(a.action not in ("file.written", "note.updated") for a in doc.activity)
    async with HubAPI(client.base) as sdk:
        after = msgspec.json.decode(await sdk.export(s["id"], s["a"]), type=api.SessionExport)
    assert [m.content for m in after.messages[-5:]] == [f"during {i}" for i in range(5)]
    assert after.session.last_message_id == 12_005 and len(after.note_versions) == 2
    assert [f.path for f in after.files] == ["late.txt"]


async def test_tokens_are_checked(client: HubClient) -> None:
    """No token: 401; a token of another session: 403; an unknown token: 401; a path
    that cannot name a session: 404; a bad format: 400; a deleted session: 410."""
    s = await client.session_with_b()
    other = await client.session_with_b()
    url = f"/api/sessions/{s['id']}/export"
    assert (await client.call("GET", url))[0] == 401
    status, body = await client.call("GET", url, token=other["obs"])
    assert (status, body["code"]) == (403, "forbidden")
    status, body = await client.call("GET", url, token="agt_" + "x" * 32)
    assert (status, body["code"]) == (401, "unauthorized")
    status, body = await client.call("GET", "/api/sessions/nope/export", token=s["a"])
    assert (status, body["code"]) == (404, "session_not_found")
    status, body = await client.call("GET", url, token=s["a"], params={"format": "pdf"})
    assert (status, body["code"]) == (400, "bad_request")
    assert (await client.call("DELETE", f"/api/sessions/{s['id']}", token=s["a"]))[0] == 204
    status, body = await client.call("GET", url, token=s["obs"])
    assert (status, body["code"]) == (410, "session_deleted")
    async with HubAPI(client.base) as sdk:
        with pytest.raises(HubClientError) as refused:
            await sdk.export(s["id"], s["b"])
    assert refused.value.code == "session_deleted"


async def test_a_safe_file_name_whatever_the_session_is_called(client: HubClient) -> None:
    """Content-Disposition names an ASCII file built from the id and name, whatever the
    name holds; a name with no such letters leaves the id alone."""
    for name, tail in (('../"evil"; x=y\\ Ünïcode', "-evil-x-y-unicode.md"), ("日本", ".md")):
        s = await client.session_with_b(name=name)
        async with client.http.get(
            f"{client.base}/api/sessions/{s['id']}/export",
            params={"format": "markdown"},
            headers={"Authorization": f"Bearer {s['a']}"},
        ) as resp:
            assert resp.status == 200 and resp.content_type == "text/markdown"
            disposition = resp.headers["Content-Disposition"]
            await resp.read()
        assert FILE_NAME.match(disposition), disposition
        assert disposition == f'attachment; filename="{s["id"]}{tail}"'


async def test_concurrent_exports_are_limited(make_client: Any, database_url: str) -> None:
    """With two exports streaming (their readers paused), a third is refused 429
    `rate_limited` with Retry-After; once one finishes, the next is served."""
    client: HubClient = await make_client(max_concurrent_exports=2)
    s = await client.session_with_b()
    await seed_messages(database_url, s["id"], 12_000, 2_000)  # ~25 MB each: in flight
    url = f"{client.base}/api/sessions/{s['id']}/export"
    headers = {"Authorization": f"Bearer {s['a']}"}
    async with aiohttp.ClientSession() as one, aiohttp.ClientSession() as two:
        first, second = await asyncio.gather(
            one.get(url, headers=headers), two.get(url, headers=headers)
        )
        try:
            assert first.status == second.status == 200
            head = await first.content.readany()
            await second.content.readany()
            assert await export_backends(database_url) == 2
            async with client.http.get(url, headers=headers) as refused:
                assert refused.status == 429 and refused.headers["Retry-After"] == "5"
                body = await refused.json()
            assert body["code"] == "rate_limited" and "at most 2 exports" in body["message"]
            assert await client.metric("hub_rate_limited_total", limit="exports") == "1"
            assert msgspec.json.decode(head + await first.read())["complete"] is True
            status, doc = await client.call("GET", url.removeprefix(client.base), token=s["obs"])
            assert status == 200 and len(doc["messages"]) == 12_000
        finally:
            first.close()
            second.close()  # the other reader leaves half-way


async def test_a_failure_mid_stream_aborts_the_connection(
    client: HubClient, database_url: str, tmp_path: Path
) -> None:
    """When the database connection of a running export dies, the reader gets a
    transfer cut short (an aiohttp payload error; `unavailable` from the SDK, with no
    file left by `export_to`), never a shorter document that parses; the hub goes on."""
    s = await client.session_with_b()
    await seed_messages(database_url, s["id"], 12_000, 2_000)
    url = f"{client.base}/api/sessions/{s['id']}/export"

    async def kill_export() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            killed = await conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = $1",
                APPLICATION_NAME,
            )
        finally:
            await conn.close()
        assert killed == 1

    async with client.http.get(url, headers={"Authorization": f"Bearer {s['a']}"}) as resp:
        got = await resp.content.readany()
        await kill_export()
        with pytest.raises(aiohttp.ClientPayloadError):
            got += await resp.read()
    with pytest.raises(msgspec.DecodeError):
        msgspec.json.decode(got)

    target = tmp_path / "export.json"
    async with HubAPI(client.base) as sdk:
        async with sdk.export_stream(s["id"], s["a"]) as response:
            await response.content.readany()
            await kill_export()
            with pytest.raises(aiohttp.ClientPayloadError):
                await response.read()
        with pytest.raises(HubClientError) as cut:
            async with sdk.export_stream(s["id"], s["a"]) as response:
                await response.content.readany()
                await kill_export()
                await response.read()
        assert cut.value.code == "unavailable"
        doc = msgspec.json.decode(await sdk.export(s["id"], s["b"]), type=api.SessionExport)
        assert len(doc.messages) == 12_000
        size = await sdk.export_to(target, s["id"], s["a"], "markdown")
    assert target.stat().st_size == size
    assert list(tmp_path.iterdir()) == [target]  # noqa: ASYNC240


async def test_sdk_and_cli_round_trip(client: HubClient, tmp_path: Path) -> None:
    """`export` and `export_to` give the bytes the route gives; `hub session export`
    writes the same JSON to a file and the transcript to stdout, and says why it
    cannot with a wrong token."""
    s = await busy_session(client)
    token_file = tmp_path / "token"
    token_file.write_text(s["olga"])
    target = tmp_path / "out" / "s.json"
    target.parent.mkdir()
    async with HubAPI(client.base) as sdk:
        whole = msgspec.json.decode(await sdk.export(s["id"], s["a"]), type=api.SessionExport)
        size = await sdk.export_to(target, s["id"], s["b"])
        assert size == target.stat().st_size
        streamed = msgspec.json.decode(target.read_bytes(), type=api.SessionExport)
        transcript = (await sdk.export(s["id"], s["a"], "markdown")).decode()
    assert streamed.messages == whole.messages and streamed.note_versions == whole.note_versions
    assert streamed.activity == whole.activity

    cli_file = tmp_path / "cli.json"
    code, out, err = await hub(
        "session", "export", s["id"], "--url", client.base, "--token-file", str(token_file),
        "-o", str(cli_file),
    )  # fmt: skip
    assert code == 0, err
    assert f"exported {s['id']} to {cli_file}" in err
    by_cli = msgspec.json.decode(cli_file.read_bytes(), type=api.SessionExport)
    assert by_cli.messages == whole.messages and by_cli.file_versions == whole.file_versions
    code, out, err = await hub(
        "session", "export", s["id"], "--format", "markdown", "--url", client.base,
        env={"HUB_TOKEN": s["b"]},
    )  # fmt: skip
    assert code == 0, err
    assert out.split("- Exported:")[0] == transcript.split("- Exported:")[0]
    assert "### #3 · Olga (observer)" in out and "```\nwatching\n```" in out
    code, out, err = await hub(
        "session", "export", s["id"], "--url", client.base, "--token", "obs_" + "x" * 30
    )
    assert code == 1 and "unauthorized" in err and out == ""

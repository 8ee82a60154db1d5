"""Note and file history over real HTTP and the SDK: every accepted change is a version,
readable by any token of the session (observers too), listed newest first, read one at a
time and compared; another session's notes and files stay out of reach."""

import asyncio

import pytest

from hub.client import HubAPI, HubClientError
from tests.helpers import HubClient


async def test_every_note_edit_makes_a_version(client: HubClient) -> None:
    """Create and two edits: three versions, newest first, each with its editor, title
    and size, and the content in the single read; the diff shows the lines and title."""
    s = await client.session_with_b()
    base = f"/api/sessions/{s['id']}/notes"
    _, note = await client.call(
        "POST",
        base,
        token=s["a"],
        json={"title": "Plan", "content": "a\nb\n", "expected_version": 0},
    )
    url = f"{base}/{note['id']}"
    await client.call("PUT", url, token=s["b"], json={"content": "a\nB\n", "expected_version": 1})
    await client.call(
        "PUT",
        url,
        token=s["obs"],
        json={"title": "Plan 2", "content": "a\nB\nc\n", "expected_version": 2},
    )
    async with HubAPI(client.base) as hub:
        page = await hub.note_versions(s["id"], s["obs"], note["id"])
        assert [v.version for v in page.versions] == [3, 2, 1] and page.next_before is None
        agent_a = s["created"]["session"]["agent_a_id"]
        assert [v.editor for v in page.versions] == ["observer", "bee", agent_a]
        assert [v.title for v in page.versions] == ["Plan 2", "Plan", "Plan"]
        assert [v.size for v in page.versions] == [6, 4, 4]
        assert all(v.at_message_id == 0 for v in page.versions)
        older = await hub.note_versions(s["id"], s["obs"], note["id"], before=3, limit=1)
        assert [v.version for v in older.versions] == [2] and older.next_before == 2
        one = await hub.note_version(s["id"], s["obs"], note["id"], 2)
        assert one.content == "a\nB\n" and one.editor == "bee"
        diff = await hub.note_diff(s["id"], s["obs"], note["id"], 1, 3)
        assert diff.title is not None and (diff.title.from_, diff.title.to) == ("Plan", "Plan 2")
        assert diff.diff == [
            "--- version 1",
            "+++ version 3",
            "@@ -1,2 +1,3 @@",
            " a",
            "-b",
            "+B",
            "+c",
        ]
        assert (await hub.note_diff(s["id"], s["a"], note["id"], 1, 2)).title is None
    status, raw = await client.call("GET", f"{url}/versions", token=s["obs"], params={"limit": "1"})
    assert status == 200 and raw["next_before"] == 3 and "content" not in raw["versions"][0]
    status, raw = await client.call("GET", f"{url}/diff?from=1&to=2", token=s["b"])
    assert status == 200 and raw["from"] == 1 and raw["to"] == 2


async def test_versions_follow_the_messages(client: HubClient) -> None:
    """A version records the session's last message when it was written."""
    s = await client.session_with_b()
    a = await client.connect(s["a"])
    created = await a.request(
        {"type": "update_note", "title": "Plan", "content": "v1", "expected_version": 0}
    )
    await a.say("one")
    await a.say("two")
    await a.request(
        {
            "type": "update_note",
            "note_id": created["note"]["id"],
            "content": "v2",
            "expected_version": 1,
        }
    )
    await a.request({"type": "write_file", "path": "src/x.py", "content": "x"})
    async with HubAPI(client.base) as hub:
        page = await hub.note_versions(s["id"], s["obs"], created["note"]["id"])
        assert [(v.version, v.at_message_id) for v in page.versions] == [(2, 2), (1, 0)]
        files = await hub.file_versions(s["id"], s["obs"], "src/x.py")
        assert [(v.version, v.at_message_id) for v in files.versions] == [(1, 2)]


async def test_concurrent_edits_add_exactly_one_version(client: HubClient) -> None:
    """Two clients edit one note at the same expected_version: one wins, one conflicts,
    and exactly one version is added."""
    s = await client.session_with_b()
    base = f"/api/sessions/{s['id']}/notes"
    _, note = await client.call(
        "POST", base, token=s["a"], json={"title": "Plan", "content": "v1", "expected_version": 0}
    )
    url = f"{base}/{note['id']}"
    answers = await asyncio.gather(
        *(
            client.call("PUT", url, token=s[who], json={"content": who, "expected_version": 1})
            for who in ("a", "b")
        )
    )
    assert sorted(status for status, _ in answers) == [200, 409]
    winner = next(body for status, body in answers if status == 200)
    async with HubAPI(client.base) as hub:
        page = await hub.note_versions(s["id"], s["a"], note["id"])
        assert [v.version for v in page.versions] == [2, 1]
        assert (await hub.note_version(s["id"], s["b"], note["id"], 2)).content == winner["content"]


async def test_every_file_write_makes_a_version(client: HubClient) -> None:
    """Three writes of one path: versions 1, 2, 3 with their hashes; the file says its
    version; one version and a diff read back; a file named "versions" is only a file."""
    s = await client.session_with_b()
    async with HubAPI(client.base) as hub:
        path = "docs/a b/versions"
        for content in ("one\n", "two\n", "two\nthree\n"):
            status, written = await client.call(
                "PUT",
                f"/api/sessions/{s['id']}/files/docs/a%20b/versions",
                token=s["a"],
                json={"content": content},
            )
            assert status == 200
        assert written["version"] == 3
        assert (await hub.read_file(s["id"], s["obs"], path)).version == 3
        page = await hub.file_versions(s["id"], s["obs"], path)
        assert [v.version for v in page.versions] == [3, 2, 1]
        assert page.versions[0].content_hash == written["content_hash"]
        assert [v.size for v in page.versions] == [10, 4, 4]
        first = await hub.file_version(s["id"], s["obs"], path, 1)
        assert first.content == "one\n" and first.path == path
        diff = await hub.file_diff(s["id"], s["b"], path, 1, 3)
        assert diff.diff == [
            f"--- {path}@1",
            f"+++ {path}@3",
            "@@ -1 +1,2 @@",
            "-one",
            "+two",
            "+three",
        ]
        listed = await hub.files(s["id"], s["obs"])
        assert [(f.path, f.version) for f in listed] == [(path, 3)]


async def test_other_sessions_and_missing_versions(client: HubClient) -> None:
    """Another session's token is forbidden; another session's note, a missing version,
    a missing file, a malformed version: `not_found`."""
    s = await client.session_with_b()
    other = await client.session_with_b()
    _, mine = await client.call(
        "POST",
        f"/api/sessions/{s['id']}/notes",
        token=s["a"],
        json={"title": "Plan", "content": "v1", "expected_version": 0},
    )
    await client.call(
        "PUT", f"/api/sessions/{s['id']}/files/f.txt", token=s["a"], json={"content": "x"}
    )
    async with HubAPI(client.base) as hub:
        with pytest.raises(HubClientError) as caught:
            await hub.note_versions(s["id"], other["obs"], mine["id"])
        assert caught.value.code == "forbidden"
        with pytest.raises(HubClientError) as caught:
            await hub.file_versions(s["id"], other["a"], "f.txt")
        assert caught.value.code == "forbidden"
        for read in (
            hub.note_versions(other["id"], other["obs"], mine["id"]),
            hub.note_version(other["id"], other["obs"], mine["id"], 1),
            hub.note_version(s["id"], s["obs"], mine["id"], 2),
            hub.note_diff(s["id"], s["obs"], mine["id"], 1, 2),
            hub.file_versions(other["id"], other["obs"], "f.txt"),
            hub.file_version(s["id"], s["obs"], "f.txt", 2),
            hub.file_diff(s["id"], s["obs"], "f.txt", 1, 9),
        ):
            with pytest.raises(HubClientError) as caught:
                await read
            assert caught.value.code == "not_found"
    for url in (
        f"/api/sessions/{s['id']}/notes/{mine['id']}/versions/x",
        f"/api/sessions/{s['id']}/notes/{mine['id']}/versions/0",
        f"/api/sessions/{s['id']}/file-version/99999999999/f.txt",
    ):
        status, body = await client.call("GET", url, token=s["obs"])
        assert (status, body["code"]) == (404, "not_found"), url
    status, body = await client.call(
        "GET", f"/api/sessions/{s['id']}/notes/{mine['id']}/diff?from=1", token=s["obs"]
    )
    assert (status, body["code"]) == (400, "bad_request")

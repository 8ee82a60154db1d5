"""Attachments over real HTTP and PostgreSQL: uploads streamed and stored once per
session by SHA-256, the size limit and the quota (typed, nothing stored, no overdraft
under concurrent uploads), downloads served so that nothing uploaded runs in the hub's
origin, thumbnails (none for a decompression bomb), who may do what, and messages that
carry attachments."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import struct
import zlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiohttp import FormData
from PIL import Image

from hub.config import Config, load_config
from hub.domain import Principal
from hub.errors import HubError
from tests.helpers import TEST_SECRET_KEY, HubClient

MAX_BYTES = 1024 * 1024
QUOTA = 3 * 1024 * 1024


RECEIVING = 8  # the quota test's concurrent uploads are all received at once


@pytest.fixture
def config(database_url: str) -> Config:
    """One bus is enough here (the live event is tested on both below): small limits."""
    return load_config(
        {},
        database_url=database_url,
        heartbeat_interval=5.0,
        send_queue_frames=256,
        commit_batch_max=64,
        invite_attempts_per_minute=1000,
        session_creations_per_minute=100_000,
        max_frame_bytes=256 * 1024,
        attachment_max_bytes=MAX_BYTES,
        attachment_quota_bytes=QUOTA,
        attachment_receiving_per_session=RECEIVING,
        secret_key=TEST_SECRET_KEY,
    )


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


async def upload(
    client: HubClient,
    session: dict[str, Any],
    data: bytes,
    *,
    token: str | None = None,
    content_type: str = "application/octet-stream",
    name: str | None = "blob.bin",
) -> tuple[int, Any]:
    params = {"name": name} if name else {}
    async with client.http.post(
        f"{client.base}/api/sessions/{session['id']}/attachments",
        data=io.BytesIO(data),
        params=params,
        headers={"Authorization": f"Bearer {token or session['a']}", "Content-Type": content_type},
    ) as resp:
        return resp.status, await resp.json()


async def fetch(
    client: HubClient, session: dict[str, Any], path: str, token: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    async with client.http.get(
        f"{client.base}/api/sessions/{session['id']}/attachments/{path}",
        headers={"Authorization": f"Bearer {token or session['obs']}"},
    ) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def stored(db: asyncpg.Connection, session_id: str) -> tuple[int, int, int, int]:
    """Uploads, blobs, chunks and the usage counter of a session, as PostgreSQL has them."""
    row = await db.fetchrow(
        """SELECT (SELECT count(*) FROM attachments WHERE session_id = $1) AS uploads,
                  (SELECT count(*) FROM attachment_blobs WHERE session_id = $1) AS blobs,
                  (SELECT count(*) FROM attachment_chunks WHERE session_id = $1) AS chunks,
                  coalesce((SELECT bytes FROM attachment_usage WHERE session_id = $1), 0)
                      AS used""",
        session_id,
    )
    return row["uploads"], row["blobs"], row["chunks"], row["used"]


def png(width: int, height: int, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


async def test_an_upload_is_stored_listed_and_downloaded_whole(
    client: HubClient, db: asyncpg.Connection
) -> None:
    """Agent B uploads 600 KB (three chunks): the answer names its size, SHA-256 and
    uploader; an observer lists it, reads its metadata and downloads the same bytes as
    an attachment, with nosniff and the sandboxing CSP; the activity log records it."""
    s = await client.session_with_b()
    data = os.urandom(600_000)
    status, created = await upload(client, s, data, token=s["b"], name="dir/run 1.bin")
    assert status == 201, created
    assert created["name"] == "run 1.bin" and created["size"] == len(data)
    assert created["sha256"] == hashlib.sha256(data).hexdigest()
    assert (created["uploader"], created["uploader_role"]) == ("bee", "agent_b")
    assert created["content_type"] == "application/octet-stream" and not created["thumbnail"]
    assert await stored(db, s["id"]) == (1, 1, 3, len(data))

    status, listed = await client.call(
        "GET", f"/api/sessions/{s['id']}/attachments", token=s["obs"]
    )
    assert status == 200 and [a["id"] for a in listed["attachments"]] == [created["id"]]
    status, _, meta = await fetch(client, s, created["id"])
    assert status == 200 and b'"sha256"' in meta
    status, headers, body = await fetch(client, s, created["id"] + "/content")
    assert status == 200 and body == data
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["Content-Disposition"].startswith('attachment; filename="run 1.bin"')
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert headers["Content-Length"] == str(len(data))

    status, activity = await client.call("GET", f"/api/sessions/{s['id']}/activity", token=s["a"])
    uploaded = [e for e in activity["activity"] if e["action"] == "attachment.uploaded"]
    assert [e["detail"]["id"] for e in uploaded] == [created["id"]]


async def test_the_same_bytes_are_stored_once(client: HubClient, db: asyncpg.Connection) -> None:
    """Two uploads of the same bytes (under other names and types) are two attachments
    sharing one blob, counted once towards the quota; other bytes are another blob."""
    s = await client.session_with_b()
    data = os.urandom(300_000)
    _, first = await upload(client, s, data, name="a.bin")
    _, second = await upload(client, s, data, token=s["b"], name="b.txt", content_type="text/plain")
    assert first["id"] != second["id"] and first["sha256"] == second["sha256"]
    assert await stored(db, s["id"]) == (2, 1, 2, len(data))
    status, _ = await upload(client, s, data[:1000])
    assert status == 201
    assert await stored(db, s["id"]) == (3, 2, 3, len(data) + 1000)
    for one in (first, second):
        status, _, body = await fetch(client, s, one["id"] + "/content")
        assert status == 200 and body == data


async def test_over_the_size_limit_is_413_and_nothing_is_stored(
    client: HubClient, db: asyncpg.Connection
) -> None:
    """One byte over the limit is refused `payload_too_large`, whether the request
    declares its length or streams it chunked; the limit itself is taken."""
    s = await client.session_with_b()
    status, body = await upload(client, s, os.urandom(MAX_BYTES + 1))
    assert (status, body["code"]) == (413, "payload_too_large")

    async def chunked() -> AsyncIterator[bytes]:
        for _ in range(17):
            yield os.urandom(64 * 1024)  # 17 x 64 KiB: over 1 MiB, no Content-Length

    async with client.http.post(
        f"{client.base}/api/sessions/{s['id']}/attachments",
        data=chunked(),
        headers={"Authorization": f"Bearer {s['a']}"},
    ) as resp:
        assert resp.status == 413 and (await resp.json())["code"] == "payload_too_large"
    assert await stored(db, s["id"]) == (0, 0, 0, 0)
    status, _ = await upload(client, s, os.urandom(MAX_BYTES))
    assert status == 201


async def test_concurrent_uploads_cannot_overdraw_the_quota(
    client: HubClient, db: asyncpg.Connection
) -> None:
    """Eight concurrent uploads of 1 MiB of distinct bytes to a session with a 3 MiB
    quota: three are stored, five are refused `quota_exceeded` (413) and leave nothing;
    the usage is the sum of the blobs kept. The same bytes again still fit (stored once)."""
    s = await client.session_with_b()
    datas = [os.urandom(MAX_BYTES) for _ in range(8)]
    answers = await asyncio.gather(*(upload(client, s, d) for d in datas))
    kept = [a for status, a in answers if status == 201]
    refused = [a for status, a in answers if status != 201]
    assert len(kept) == 3, answers
    assert {(a["code"]) for a in refused} == {"quota_exceeded"}
    assert all(status in (201, 413) for status, _ in answers)
    assert await stored(db, s["id"]) == (3, 3, 3 * 4, 3 * MAX_BYTES)
    blob_sum = await db.fetchval(
        "SELECT sum(size) FROM attachment_blobs WHERE session_id = $1", s["id"]
    )
    assert blob_sum == 3 * MAX_BYTES
    kept_data = next(d for d in datas if hashlib.sha256(d).hexdigest() == kept[0]["sha256"])
    status, again = await upload(client, s, kept_data)
    assert status == 201 and again["sha256"] == kept[0]["sha256"]
    status, over = await upload(client, s, b"one byte more")
    assert (status, over["code"]) == (413, "quota_exceeded")


async def test_who_may_upload_and_read(client: HubClient) -> None:
    """Observers read but may not upload (`forbidden`); a token of another session reads
    nothing here, and this session's token cannot reach another session's attachment by
    its id (`not_found`). A completed session takes no uploads and still serves its own."""
    s, other = await client.session_with_b(), await client.session_with_b()
    status, body = await upload(client, s, b"x", token=s["obs"])
    assert (status, body["code"]) == (403, "forbidden")
    _, mine = await upload(client, s, b"mine")
    _, theirs = await upload(client, other, b"theirs")
    status, _, _ = await fetch(client, s, mine["id"] + "/content", token=other["a"])
    assert status == 403
    for path in (theirs["id"], theirs["id"] + "/content", theirs["id"] + "/thumbnail"):
        status, _, body = await fetch(client, s, path)
        assert status == 404 and b"not_found" in body
    status, _, _ = await fetch(client, s, "att_nope/content")
    assert status == 404
    status, _ = await client.call(
        "PATCH", f"/api/sessions/{s['id']}", token=s["a"], json={"status": "completed"}
    )
    assert status == 200
    status, body = await upload(client, s, b"late")
    assert (status, body["code"]) == (409, "session_completed")
    status, _, data = await fetch(client, s, mine["id"] + "/content")
    assert (status, data) == (200, b"mine")


async def test_a_script_in_svg_or_html_is_served_inert(client: HubClient) -> None:
    """An SVG and an HTML page carrying script are downloaded as attachments with nosniff
    and `sandbox; default-src 'none'`: the SVG as image/svg+xml, the HTML (not on the
    allow-list) as application/octet-stream; neither gets a thumbnail."""
    s = await client.session_with_b()
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    html = b"<html><script>alert(document.cookie)</script></html>"
    _, svg_att = await upload(client, s, svg, content_type="image/svg+xml", name="x.svg")
    _, html_att = await upload(client, s, html, content_type="text/html", name="x.html")
    for att, served in ((svg_att, "image/svg+xml"), (html_att, "application/octet-stream")):
        assert not att["thumbnail"]
        status, headers, body = await fetch(client, s, att["id"] + "/content")
        assert status == 200 and headers["Content-Type"] == served and b"<script>" in body
        assert headers["Content-Disposition"].startswith("attachment;")
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
        status, _, _ = await fetch(client, s, att["id"] + "/thumbnail")
        assert status == 404


async def test_an_image_gets_a_thumbnail_made_once(
    client: HubClient, db: asyncpg.Connection
) -> None:
    """A 1200x600 PNG gets a 320x160 PNG thumbnail, kept with its blob, and is shown
    inline; uploaded again, it shares the thumbnail; a file claiming to be a PNG that is
    not one gets none and downloads as an attachment."""
    s = await client.session_with_b()
    image = png(1200, 600)
    status, created = await upload(client, s, image, content_type="image/png", name="plot.png")
    assert status == 201 and created["thumbnail"]
    status, headers, thumb = await fetch(client, s, created["id"] + "/thumbnail")
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
    with Image.open(io.BytesIO(thumb)) as decoded:
        assert decoded.size == (320, 160)
    status, headers, body = await fetch(client, s, created["id"] + "/content")
    assert body == image and headers["Content-Disposition"].startswith("inline;")
    _, again = await upload(client, s, image, content_type="image/png", name="again.png")
    assert again["thumbnail"]
    assert (
        await db.fetchval(
            "SELECT count(*) FROM attachment_blobs WHERE session_id = $1 AND thumbnail IS NOT NULL",
            s["id"],
        )
        == 1
    )
    _, fake = await upload(client, s, b"<html>not a png</html>", content_type="image/png")
    assert not fake["thumbnail"]
    _, headers, _ = await fetch(client, s, fake["id"] + "/content")
    assert headers["Content-Disposition"].startswith("attachment;")


def bomb_png(width: int, height: int) -> bytes:
    """A valid PNG of `width` x `height` black grey pixels, a few KB compressed."""
    row = b"\x00" + b"\x00" * width
    raw = zlib.compress(row * height, 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


async def test_a_decompression_bomb_gets_no_thumbnail_and_a_clean_answer(
    client: HubClient,
) -> None:
    """A 24-megapixel PNG of 24 KB, and a header claiming 100,000 x 100,000 pixels, are
    stored (201) without a thumbnail and served as attachments; the hub stays up."""
    s = await client.session_with_b()
    bomb = bomb_png(6000, 4000)
    assert len(bomb) < 64 * 1024
    liar = bomb_png(1, 1).replace(struct.pack(">II", 1, 1), struct.pack(">II", 100_000, 100_000))
    for data in (bomb, liar):
        status, created = await upload(client, s, data, content_type="image/png", name="b.png")
        assert status == 201 and not created["thumbnail"], created
        status, _, _ = await fetch(client, s, created["id"] + "/thumbnail")
        assert status == 404
        _, headers, body = await fetch(client, s, created["id"] + "/content")
        assert body == data and headers["Content-Disposition"].startswith("attachment;")
    status, _ = await client.call("GET", f"/api/sessions/{s['id']}", token=s["a"])
    assert status == 200


async def test_a_multipart_upload_takes_its_file_part(client: HubClient) -> None:
    """A multipart/form-data upload (as a browser form sends it) stores its file part
    under the part's name and type."""
    s = await client.session_with_b()
    form = FormData()
    form.add_field("note", "ignored")
    form.add_field("file", b"a,b\n1,2\n", filename="table.csv", content_type="text/csv")
    async with client.http.post(
        f"{client.base}/api/sessions/{s['id']}/attachments",
        data=form,
        headers={"Authorization": f"Bearer {s['a']}"},
    ) as resp:
        created = await resp.json()
        assert resp.status == 201, created
    assert (created["name"], created["content_type"], created["size"]) == (
        "table.csv",
        "text/csv",
        8,
    )
    _, headers, body = await fetch(client, s, created["id"] + "/content")
    assert body == b"a,b\n1,2\n" and headers["Content-Type"] == "text/csv"


async def test_a_message_carries_attachments_checked_in_its_insert(client: HubClient) -> None:
    """Over the websocket and REST, a message names uploads of its session: acked and
    relayed with `attachment_ids`, and in the history; a message naming an unknown id or
    another session's upload is refused `bad_request` and nothing is stored. A message
    without attachments is encoded without the field, as before."""
    s, other = await client.session_with_b(), await client.session_with_b()
    _, one = await upload(client, s, b"one")
    _, two = await upload(client, s, png(8, 8), content_type="image/png")
    _, theirs = await upload(client, other, b"theirs")
    peer = await client.connect(s["b"])
    ack = await peer.request(
        {
            "type": "send",
            "client_msg_id": "m1",
            "content": "see",
            "attachment_ids": [one["id"], two["id"]],
        }
    )
    assert ack["type"] == "ack" and ack["message"]["attachment_ids"] == [one["id"], two["id"]]
    plain = await peer.request({"type": "send", "client_msg_id": "m2", "content": "plain"})
    assert "attachment_ids" not in plain["message"]
    again = await peer.request(
        {"type": "send", "client_msg_id": "m1", "content": "see", "attachment_ids": [one["id"]]}
    )
    assert again["duplicate"] and again["message"]["attachment_ids"] == [one["id"], two["id"]]
    for bad in ([theirs["id"]], [one["id"], "att_" + "z" * 21]):
        refused = await peer.request(
            {
                "type": "send",
                "client_msg_id": f"bad-{bad[-1]}",
                "content": "x",
                "attachment_ids": bad,
            }
        )
        assert refused["type"] == "error" and refused["code"] == "bad_request"
    status, body = await client.call(
        "POST",
        f"/api/sessions/{s['id']}/messages",
        token=s["obs"],
        json={"client_msg_id": "r1", "content": "rest", "attachment_ids": [theirs["id"]]},
    )
    assert (status, body["code"]) == (400, "bad_request")
    status, body = await client.call(
        "POST",
        f"/api/sessions/{s['id']}/messages",
        token=s["obs"],
        json={"client_msg_id": "r2", "content": "rest", "attachment_ids": [two["id"]]},
    )
    assert status == 201 and body["message"]["attachment_ids"] == [two["id"]]
    status, page = await client.call("GET", f"/api/sessions/{s['id']}/messages", token=s["obs"])
    assert [(m["content"], m.get("attachment_ids")) for m in page["messages"]] == [
        ("see", [one["id"], two["id"]]),
        ("plain", None),
        ("rest", [two["id"]]),
    ]


async def test_a_session_receives_a_bounded_number_of_uploads_at_once() -> None:
    """While 2 uploads of a session are being received (each spools to disk before the
    quota can be known), a third is refused `rate_limited` (Retry-After 1 s), while
    another session's goes on; once one ends, the session may upload again."""
    from hub.services.attachments import Attachments

    service = Attachments(
        load_config({}, attachment_receiving_per_session=2, secret_key=TEST_SECRET_KEY),
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
    )
    gate = asyncio.Event()

    async def held_body() -> AsyncIterator[bytes]:
        yield b"first part"
        await gate.wait()
        raise ConnectionResetError("the uploader left")

    def agent(session_id: str) -> Principal:
        return Principal(session_id=session_id, role="agent_a", participant_id="a")

    async def upload(session_id: str) -> None:
        await service.upload(agent(session_id), held_body(), name="x", content_type=None)

    held = [asyncio.create_task(upload("ses_aaaaaaaaaaaa")) for _ in range(2)]
    other = asyncio.create_task(upload("ses_bbbbbbbbbbbb"))
    await asyncio.sleep(0)  # let them start: each counts itself before its first await
    with pytest.raises(HubError) as refused:
        await upload("ses_aaaaaaaaaaaa")
    assert (refused.value.code, refused.value.data) == ("rate_limited", 1.0)
    assert not other.done()
    gate.set()
    for task in (*held, other):
        with pytest.raises(ConnectionResetError):
            await task
    gate.clear()
    again = asyncio.create_task(upload("ses_aaaaaaaaaaaa"))
    await asyncio.sleep(0)
    assert not again.done()  # taken in, not refused
    gate.set()
    with pytest.raises(ConnectionResetError):
        await again


def test_a_process_streams_a_bounded_number_of_downloads() -> None:
    """Past `HUB_ATTACHMENT_DOWNLOADS` downloads in progress, one more is refused
    `rate_limited` (Retry-After 1 s); a place is free again once a download ends."""
    from hub.services.attachments import Attachments

    service = Attachments(
        load_config({}, attachment_downloads=2, secret_key=TEST_SECRET_KEY),
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
    )
    with service.downloading(), service.downloading():
        with pytest.raises(HubError) as refused, service.downloading():
            pass
        assert (refused.value.code, refused.value.data) == ("rate_limited", 1.0)
    with service.downloading():
        pass


async def test_a_multipart_upload_is_bounded_before_and_besides_its_file(
    client: HubClient,
) -> None:
    """A multipart body declaring more than the limit (plus 64 KiB of framing) is
    refused 413 before it is read; parts before the file may hold 64 KiB at most."""
    s = await client.session_with_b()
    url = f"{client.base}/api/sessions/{s['id']}/attachments"
    auth = {"Authorization": f"Bearer {s['a']}"}
    big = FormData()
    big.add_field("file", io.BytesIO(b"x" * (MAX_BYTES + 65 * 1024)), filename="big.bin")
    async with client.http.post(url, data=big, headers=auth) as resp:
        assert (resp.status, (await resp.json())["code"]) == (413, "payload_too_large")
    padded = FormData()
    padded.add_field("note", "y" * (65 * 1024))
    padded.add_field("file", io.BytesIO(b"small"), filename="small.bin")
    async with client.http.post(url, data=padded, headers=auth) as resp:
        assert (resp.status, (await resp.json())["code"]) == (413, "payload_too_large")
    fine = FormData()
    fine.add_field("note", "a comment")
    fine.add_field("file", io.BytesIO(b"small"), filename="small.bin")
    async with client.http.post(url, data=fine, headers=auth) as resp:
        assert resp.status == 201, await resp.text()

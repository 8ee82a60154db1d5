"""The SDK's attachments: `send(..., attachments=[...])` uploads bytes and local files
first and names them (with session file paths as before); uploads, downloads (whole or
streamed into a file), thumbnails and the typed errors."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from PIL import Image

from hub.client import HubAPI, HubClientError, connect
from hub.client.attachments import Upload
from hub.config import Config, load_config
from tests.helpers import TEST_SECRET_KEY


@pytest.fixture
def config(database_url: str) -> Config:
    """One bus is enough for the SDK's side."""
    return load_config({}, database_url=database_url, secret_key=TEST_SECRET_KEY)


async def test_send_uploads_then_names_attachments(hub_server: TestServer, tmp_path: Path) -> None:
    """A live session sends a message with bytes, a local file, an `Upload` and a session
    file's path: the three contents are uploaded (names and types from the file or the
    `Upload`), the message names them in order; both SDKs download them back."""
    base = str(hub_server.make_url(""))
    picture = io.BytesIO()
    Image.new("RGB", (640, 480), (10, 120, 200)).save(picture, format="PNG")
    local = tmp_path / "plot.png"
    local.write_bytes(picture.getvalue())
    async with HubAPI(base) as rest:
        created = await rest.create_session()
        token, sid = created.agent_token, created.session.id
        async with connect(base, token) as session:
            await session.write_file("src/a.py", "print(1)")
            message = await session.send(
                "results",
                attachments=[
                    b"raw bytes",
                    local,
                    Upload(data=b"a,b\n", name="t.csv", content_type="text/csv"),
                    "src/a.py",
                ],
            )
            assert message.attachments == ["src/a.py"] and len(message.attachment_ids) == 3
            listed = await session.list_attachments()
            assert [a.id for a in listed] == message.attachment_ids
            assert [(a.name, a.content_type) for a in listed] == [
                ("attachment", "application/octet-stream"),
                ("plot.png", "image/png"),
                ("t.csv", "text/csv"),
            ]
            assert await session.download(listed[0].id) == b"raw bytes"
            out = tmp_path / "copy.png"
            assert await session.download_to(out, listed[1].id) == len(picture.getvalue())
            assert out.read_bytes() == picture.getvalue()
        thumb = await rest.attachment_thumbnail(sid, created.observer_token, listed[1].id)
        with Image.open(io.BytesIO(thumb)) as image:
            assert image.size == (320, 240)
        with pytest.raises(HubClientError) as refused:
            await rest.attachment_thumbnail(sid, created.observer_token, listed[0].id)
        assert refused.value.code == "not_found"
        with pytest.raises(HubClientError) as forbidden:
            await rest.upload_attachment(sid, created.observer_token, b"x")
        assert forbidden.value.code == "forbidden"
        sent = await rest.send(sid, token, "again", attachments=[listed[2]])
        assert sent.attachment_ids == [listed[2].id]
        page = await rest.history(sid, token)
        assert [m.attachment_ids for m in page.messages] == [message.attachment_ids, [listed[2].id]]

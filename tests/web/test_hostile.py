"""Hostile and careless input: every malformed frame or body gets a typed JSON error, the
connection stays, and nothing is half-written."""

import asyncio
import json
import logging
from typing import Any

import pytest
from aiohttp import ClientSession, web

from hub.app import create_app
from hub.config import Config
from tests.helpers import HubClient, HubTestServer

DEEP = 1_500  # beyond Python's recursion limit: a naive decoder overflows


def nested(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


@pytest.mark.parametrize(
    "frame",
    [
        '{"type":["send"]}',
        '{"type":{}}',
        '{"type":[],"ref":[]}',
        '{"type":null}',
        '{"type":1.5,"ref":"x"}',
        "[]",
        '"send"',
        "null",
    ],
)
async def test_frame_with_a_type_that_is_not_a_string_gets_an_error(
    client: HubClient, frame: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A frame whose `type` is not a string is answered `unknown_frame` or `bad_request`;
    the connection stays and nothing is logged as an error."""
    s = await client.session_with_b()
    a = await client.connect(s["a"])
    await a.ws.send_str(frame)
    error = await a.next("error")
    assert error["code"] in ("unknown_frame", "bad_request")
    assert (await a.request({"type": "ping"}))["type"] == "pong"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "frame",
    [
        nested(DEEP),
        '{"type":"ping","ref":' + nested(DEEP) + "}",
        '{"type":"send","client_msg_id":"d","content":"x","metadata":{"a":' + nested(DEEP) + "}}",
        '{"type":"send","client_msg_id":"d","content":"x","metadata":{"a":' + nested(40) + "}}",
        '{"type":' + nested(DEEP) + "}",
    ],
    ids=["top", "ref", "metadata", "metadata-40", "type"],
)
async def test_deeply_nested_frame_gets_bad_request(client: HubClient, frame: str) -> None:
    """JSON nested deeper than the limit (32 levels) is refused with `bad_request` and the
    connection stays; no message is created."""
    s = await client.session_with_b()
    a = await client.connect(s["a"])
    await a.ws.send_str(frame)
    error = await a.next("error")
    assert error["code"] == "bad_request"
    assert (await a.request({"type": "ping"}))["type"] == "pong"
    status, page = await client.call("GET", f"/api/sessions/{s['id']}/messages", token=s["a"])
    assert status == 200 and page["messages"] == []


async def test_metadata_within_the_depth_limit_is_accepted(client: HubClient) -> None:
    """Metadata nested 32 levels deep (the documented limit) is stored as sent."""
    s = await client.session_with_b()
    a = await client.connect(s["a"])
    metadata = {"a": 1}
    for _ in range(31):
        metadata = {"a": metadata}
    ack = await a.say("deep enough", metadata=metadata)
    assert ack["type"] == "ack" and ack["message"]["metadata"] == metadata


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/sessions/{id}/messages"),
        ("POST", "/api/sessions/{id}/notes"),
        ("PUT", "/api/sessions/{id}/notes/1"),
        ("PUT", "/api/sessions/{id}/files/a.txt"),
        ("POST", "/api/sessions"),
        ("PATCH", "/api/sessions/{id}"),
        ("POST", "/api/join"),
    ],
)
@pytest.mark.parametrize(
    "raw",
    [
        nested(DEEP).encode(),
        b'{"content":"x","client_msg_id":"c","metadata":{"a":' + nested(DEEP).encode() + b"}}",
        b'{"content":"\xff\xfe","client_msg_id":"c","title":"t","expected_version":0}',
        b"\xff\xfe",
        b'{"content":' + b"[" * 100_000,
    ],
    ids=["deep", "deep-metadata", "bad-utf8-string", "bad-utf8", "unclosed"],
)
async def test_malformed_rest_bodies_get_bad_request(
    client: HubClient, method: str, path: str, raw: bytes
) -> None:
    """Deeply nested, invalid UTF-8 or unterminated bodies answer 400 `bad_request` in JSON."""
    s = await client.session_with_b()
    url = client.base + path.format(id=s["id"])
    headers = {"Authorization": f"Bearer {s['a']}", "Content-Type": "application/json"}
    async with client.http.request(method, url, data=raw, headers=headers) as resp:
        assert resp.status == 400, await resp.text()
        assert resp.content_type == "application/json"
        body = await resp.json()
    assert body["code"] == "bad_request"


@pytest.mark.parametrize("since", ["²", "٣", "1²", "-1", "+1", " 1", "1_0", "1e3", "9" * 19])
async def test_since_must_be_plain_ascii_digits(client: HubClient, since: str) -> None:
    """`since` that is not a plain ASCII number in range is refused with 400 bad_request."""
    s = await client.session_with_b()
    status, body = await client.call("GET", "/ws", token=s["a"], params={"since": since})
    assert status == 400 and body["code"] == "bad_request"


@pytest.mark.parametrize("note_id", ["%C2%B2", "%D9%A3", "-1", "1e3", "9" * 19, "0x1"])
async def test_note_ids_that_are_not_plain_numbers_are_not_found(
    client: HubClient, note_id: str
) -> None:
    """A note id in the path that is not a plain ASCII number is `not_found`, never a 500."""
    s = await client.session_with_b()
    base = f"/api/sessions/{s['id']}/notes/{note_id}"
    status, body = await client.call("GET", base, token=s["a"])
    assert status == 404 and body["code"] == "not_found"
    status, body = await client.call(
        "PUT", base, token=s["a"], json={"content": "x", "expected_version": 1}
    )
    assert status == 404 and body["code"] == "not_found"


async def test_unknown_method_is_405_with_the_error_shape(client: HubClient) -> None:
    """A method a route does not take answers 405 `method_not_allowed` with `Allow`."""
    s = await client.session_with_b()
    async with client.http.request(
        "DELETE", client.base + "/api/sessions", headers={"Authorization": f"Bearer {s['a']}"}
    ) as resp:
        assert resp.status == 405
        assert "POST" in resp.headers["Allow"]
        body = await resp.json()
    assert body["code"] == "method_not_allowed"


async def test_unknown_path_is_404_json(client: HubClient) -> None:
    """An unknown path answers 404 `not_found` in the JSON error shape."""
    for path in ("/api/nothing", "/nothing", "/static/nothing.js"):
        status, body = await client.call("GET", path)
        assert status == 404 and body["code"] == "not_found", path


async def test_oversized_header_is_refused_without_logging_it(
    client: HubClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A header line over 8 KiB is refused with 400 `bad_request` (JSON) before the hub
    sees it; the log says so in one line at most once a second and never quotes the header
    (it may be a token)."""
    s = await client.session_with_b()
    secret = "agt_" + "s3cr3t" * 3_000
    for _ in range(20):
        async with (
            ClientSession() as http,
            http.get(
                client.base + f"/api/sessions/{s['id']}",
                headers={"Authorization": "Bearer " + secret},
            ) as resp,
        ):
            assert resp.status == 400
            assert resp.content_type == "application/json"
            body = await resp.json()
            assert body["code"] == "bad_request" and "too long" in body["message"]
            assert "s3cr3t" not in body["message"]
    logged = [r for r in caplog.records if r.name.startswith("aiohttp")]
    assert len(logged) <= 5
    assert not any("s3cr3t" in r.getMessage() or r.exc_info for r in logged)
    status, _ = await client.call("GET", f"/api/sessions/{s['id']}", token=s["a"])
    assert status == 200


async def test_overlong_request_line_gets_the_json_error(client: HubClient) -> None:
    """A request line over 8190 bytes (an 8 KiB search) is answered 400 `bad_request` in
    the JSON error shape, not aiohttp's plain text; a search within it is served."""
    async with ClientSession() as http:
        for path in ("/api/search?q=" + "word+" * 1_700, "/" + "x" * 9_000):
            async with http.get(client.base + path) as resp:
                assert resp.status == 400, path[:20]
                assert resp.content_type == "application/json"
                body = await resp.json()
                assert body["code"] == "bad_request" and "too long" in body["message"]
    status, body = await client.call("GET", "/api/search?q=word")
    assert status == 200, body


async def test_malformed_request_line_gets_the_json_error(client: HubClient) -> None:
    """A request line aiohttp cannot parse is answered 400 `bad_request` as JSON, without
    quoting the line back."""
    reader, writer = await asyncio.open_connection("127.0.0.1", int(client.base.rsplit(":", 1)[1]))
    try:
        writer.write(b"GET /a b c?token=agt_s3cr3t HTTP/1.1\r\nHost: x\r\n\r\n")
        async with asyncio.timeout(5):
            raw = await reader.read()
    finally:
        writer.close()
    head, _, payload = raw.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].split()[1] == b"400"
    assert b"application/json" in head
    body = json.loads(payload)
    assert body["code"] == "bad_request" and "s3cr3t" not in body["message"]


async def test_long_but_valid_authorization_header_is_unauthorized(client: HubClient) -> None:
    """A long bearer token within the header limit is simply unknown: 401, JSON."""
    s = await client.session_with_b()
    status, body = await client.call("GET", f"/api/sessions/{s['id']}", token="agt_" + "a" * 4000)
    assert status == 401 and body["code"] == "unauthorized"


async def test_metadata_over_the_size_limit_is_refused(client: HubClient) -> None:
    """Message and session metadata over 16 KiB (encoded) get `bad_request`; nothing is
    created."""
    s = await client.session_with_b()
    big = {"blob": "x" * 17_000}
    a = await client.connect(s["a"])
    error = await a.say("hi", metadata=big)
    assert error["type"] == "error" and error["code"] == "bad_request"
    assert "metadata" in error["message"]
    status, body = await client.call(
        "POST",
        f"/api/sessions/{s['id']}/messages",
        token=s["a"],
        json={"client_msg_id": "m", "content": "x", "metadata": big},
    )
    assert status == 400 and body["code"] == "bad_request"
    status, body = await client.call("POST", "/api/sessions", json={"metadata": big})
    assert status == 400 and body["code"] == "bad_request"
    status, page = await client.call("GET", f"/api/sessions/{s['id']}/messages", token=s["a"])
    assert page["messages"] == []
    ok = await a.say("fits", metadata={"blob": "x" * 16_000})
    assert ok["type"] == "ack"


async def test_history_pages_are_bounded_by_bytes(client: HubClient) -> None:
    """A history page stops after about 1 MiB of messages even if `limit` allows more; the
    client pages on with `after`, and every message is returned once."""
    s = await client.session_with_b()
    a = await client.connect(s["a"])
    content = "é" * 60_000  # 120 KB of UTF-8 each
    for _ in range(20):
        assert (await a.say(content))["type"] == "ack"
    seen: list[int] = []
    after = 0
    pages = 0
    while True:
        async with client.http.get(
            client.base + f"/api/sessions/{s['id']}/messages",
            params={"after": str(after), "limit": "1000"},
            headers={"Authorization": f"Bearer {s['a']}"},
        ) as resp:
            raw = await resp.read()
        assert resp.status == 200
        assert len(raw) <= 2 * 1024 * 1024
        page: Any = __import__("msgspec").json.decode(raw)
        if not page["messages"]:
            break
        pages += 1
        seen += [m["id"] for m in page["messages"]]
        after = page["messages"][-1]["id"]
    assert seen == list(range(1, 21))
    assert pages >= 3


async def raw_request(client: HubClient, request: bytes) -> tuple[int, bytes, bytes]:
    """Send `request` as is on a new connection: the answer's status, head and body."""
    port = int(client.base.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        async with asyncio.timeout(5):
            raw = await reader.read()
    finally:
        writer.close()
    head, _, payload = raw.partition(b"\r\n\r\n")
    return int(head.split(b"\r\n")[0].split()[1]), head, payload


async def test_an_unknown_expectation_gets_the_json_error(client: HubClient) -> None:
    """A request whose `Expect` header aiohttp refuses before the hub's middlewares run
    is answered 400 `bad_request` as JSON, without quoting the header back."""
    status, head, payload = await raw_request(
        client,
        b"POST /api/sessions HTTP/1.1\r\nHost: x\r\nExpect: agt_s3cr3t\r\n"
        b"Content-Length: 2\r\nConnection: close\r\n\r\n{}",
    )
    assert status == 400 and b"application/json" in head
    body = json.loads(payload)
    assert body["code"] == "bad_request" and "s3cr3t" not in body["message"]


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/fault/crash", 500, "internal"),
        ("/fault/timeout", 503, "unavailable"),
        ("/fault/header", 500, "internal"),
    ],
)
async def test_what_escapes_the_error_middleware_gets_the_json_error(
    config: Config, path: str, status: int, code: str
) -> None:
    """Served as `hub serve` serves: an exception or a timeout escaping the middlewares,
    and a response that fails while being prepared (a header aiohttp refuses to send),
    are answered in the JSON error shape (500 `internal` naming a request id, 503
    `unavailable`), not in aiohttp's plain text or a dropped connection; the hub serves
    on."""
    app = create_app(config, migrate=False)

    @web.middleware
    async def faulty(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == "/fault/crash":
            raise RuntimeError("a fault outside the error middleware")
        if request.path == "/fault/timeout":
            raise TimeoutError
        response: web.StreamResponse = await handler(request)
        return response

    async def unsendable(request: web.Request) -> web.Response:
        return web.Response(text="never sent", headers={"X-Note": "one\r\ntwo"})

    app.middlewares.insert(0, faulty)
    app.router.add_get("/fault/header", unsendable)
    server = HubTestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with ClientSession() as http:
            async with http.get(server.make_url(path)) as resp:
                assert resp.status == status
                assert resp.content_type == "application/json"
                assert (await resp.json())["code"] == code
                if code == "internal":
                    assert resp.headers["X-Request-Id"]
            async with http.get(server.make_url("/healthz")) as resp:
                assert resp.status == 200
    finally:
        await server.close()

"""What the hub writes to its logs: no secrets, no probe noise, no errors for expected
outcomes."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import ClientSession, TCPConnector

from hub.app import create_app
from hub.config import Config, ConfigError, load_config
from hub.logs import JsonFormatter, bind_connection, bind_request, unbind_request
from hub.web import AccessLogger
from tests.helpers import TIMEOUT, HubClient, HubTestServer


class Lines(logging.Handler):
    """The lines one logger writes, with a way to wait for one."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.changed = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        self.changed.set()

    async def wait_for(self, text: str) -> None:
        async with asyncio.timeout(TIMEOUT):
            while not any(text in line for line in self.lines):
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
async def served(config: Config) -> AsyncIterator[tuple[HubClient, Lines]]:
    """A hub served as `hub serve` serves it (with its access logger), a client on one
    keep-alive connection (so requests are answered, and logged, in order), and the
    access log's lines."""
    server = HubTestServer(create_app(config, migrate=False), host="127.0.0.1")
    await server.start_server(access_log_class=AccessLogger)
    lines = Lines()
    access = logging.getLogger("hub.access")
    access.addHandler(lines)
    level = access.level
    access.setLevel(logging.DEBUG)
    try:
        async with ClientSession(connector=TCPConnector(limit=1)) as http:
            hub = HubClient(http, str(server.make_url("")))
            yield hub, lines
            await hub.close()
    finally:
        access.removeHandler(lines)
        access.setLevel(level)
        await server.close()


async def test_access_log_redacts_invite_codes_and_tokens(
    served: tuple[HubClient, Lines],
) -> None:
    """Invite codes (in /join/ or anywhere in a path) and tokens in a path are written
    as <redacted>; the rest of the path stays readable."""
    hub, log = served
    s = await hub.session_with_b()
    code, token = s["invite"], s["a"]
    for path in (
        f"/join/{code}",
        f"/join/{code.lower().replace('-', '%20')}",
        f"/{code}",
        f"/api/sessions/{s['id']}/files/{token}",
        f"/ws/{token}",
    ):
        async with hub.http.get(hub.base + path) as resp:
            await resp.read()
    await hub.call("GET", f"/api/sessions/{s['id']}/notes", token=token)
    await log.wait_for(f"/api/sessions/{s['id']}/notes")
    logged = "\n".join(log.lines)
    assert code not in logged.upper() and code.split("-")[-1] not in logged
    assert token not in logged and token[4:] not in logged
    assert logged.count('"GET /join/<redacted>" 200') == 2
    assert '"GET /<redacted>" 404' in logged
    assert f'"GET /api/sessions/{s["id"]}/files/<redacted>" 401' in logged
    assert '"GET /ws/<redacted>" 404' in logged


async def test_access_log_leaves_out_answered_probes(served: tuple[HubClient, Lines]) -> None:
    """/healthz, /readyz and /metrics are not logged when they answer, only when they
    fail."""
    hub, log = served
    for path in ("/healthz", "/readyz", "/metrics", "/healthz"):
        async with hub.http.get(hub.base + path) as resp:
            assert resp.status == 200
    async with hub.http.post(hub.base + "/healthz") as resp:
        assert resp.status == 405
    await hub.call("GET", "/api/sessions/ses_nothing")
    await log.wait_for("/api/sessions/ses_nothing")
    assert [line.split('"')[1] for line in log.lines] == [
        "POST /healthz",
        "GET /api/sessions/ses_nothing",
    ]


async def test_a_retried_send_logs_no_error(
    client: HubClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Retrying a client_msg_id, over the websocket and over REST, is an expected outcome:
    nothing at WARNING or above, nothing from the hub at INFO, and never PostgreSQL's
    unique-violation detail (which names the session, author and id)."""
    s = await client.session_with_b()
    a = await client.connect(s["a"])
    path = f"/api/sessions/{s['id']}/messages"
    with caplog.at_level(logging.DEBUG):
        first = await a.request({"type": "send", "client_msg_id": "retry-me", "content": "x"})
        again = await a.request({"type": "send", "client_msg_id": "retry-me", "content": "x"})
        rest = await client.call(
            "POST", path, token=s["a"], json={"client_msg_id": "retry-me", "content": "x"}
        )
        posted = await client.call(
            "POST", path, token=s["b"], json={"client_msg_id": "rest-retry", "content": "y"}
        )
        reposted = await client.call(
            "POST", path, token=s["b"], json={"client_msg_id": "rest-retry", "content": "y"}
        )
    assert again["duplicate"] is True and again["message"]["id"] == first["message"]["id"]
    assert rest[0] == 200 and rest[1]["duplicate"] is True
    assert posted[0] == 201 and reposted[0] == 200
    hub_records = [r for r in caplog.records if r.name.startswith("hub.")]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert [r.getMessage() for r in hub_records if r.levelno >= logging.INFO] == []
    assert not any("DETAIL" in r.getMessage() or "retry-me" in r.getMessage() for r in hub_records)


class JsonLines(logging.Handler):
    """Every line the hub's loggers write, formatted as HUB_LOG_FORMAT=json writes it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []
        self.changed = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        self.changed.set()

    async def wait_for(self, test: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        async with asyncio.timeout(TIMEOUT):
            while True:
                for line in self.lines:
                    record = json.loads(line)
                    if test(record):
                        return record  # type: ignore[no-any-return]
                self.changed.clear()
                await self.changed.wait()


def test_log_format_is_read_from_the_environment() -> None:
    """HUB_LOG_FORMAT is text unless set to json; anything else is refused by name."""
    assert load_config({}).log_format == "text"
    assert load_config({"HUB_LOG_FORMAT": "json"}).log_format == "json"
    with pytest.raises(ConfigError, match="HUB_LOG_FORMAT"):
        load_config({"HUB_LOG_FORMAT": "xml"})


def test_a_json_line_carries_the_ids_and_the_traceback() -> None:
    """One JSON object: time, level, logger, message, the ids bound where it was
    written, and the traceback as one string."""
    formatter = JsonFormatter()
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("hub.test").makeRecord(
            "hub.test", logging.ERROR, __file__, 1, "failed %s", ("here",), sys.exc_info()
        )

    def bound() -> str:
        bind_connection("ses_1", "par_1")
        token = bind_request("req_1")
        try:
            return formatter.format(record)
        finally:
            unbind_request(token)

    line = json.loads(contextvars.copy_context().run(bound))
    assert line["level"] == "ERROR" and line["logger"] == "hub.test"
    assert line["message"] == "failed here" and line["time"].endswith("Z")
    assert (line["request_id"], line["session_id"], line["participant_id"]) == (
        "req_1",
        "ses_1",
        "par_1",
    )
    assert "Traceback" in line["exc_info"] and "ValueError: boom" in line["exc_info"]
    plain = json.loads(formatter.format(logging.makeLogRecord({"msg": "x", "name": "hub"})))
    assert set(plain) == {"time", "level", "logger", "message"}


async def test_json_lines_name_the_request_and_connection_but_never_a_token(
    config: Config,
) -> None:
    """Requests carrying a token in the Authorization header or in `?token=`, and a
    websocket opened with `?token=`, log JSON lines naming the request (and, for the
    websocket, its session and participant), none holding the token."""
    server = HubTestServer(create_app(config, migrate=False), host="127.0.0.1")
    await server.start_server(access_log_class=AccessLogger)
    lines = JsonLines()
    hub_log = logging.getLogger("hub")
    hub_log.addHandler(lines)
    level = hub_log.level
    hub_log.setLevel(logging.DEBUG)
    try:
        async with ClientSession() as http:
            hub = HubClient(http, str(server.make_url("")))
            s = await hub.session_with_b()
            token, notes = s["a"], f"/api/sessions/{s['id']}/notes"
            assert (await hub.call("GET", notes, token=token))[0] == 200
            assert (await hub.call("GET", notes, params={"token": token}))[0] == 200
            peer = await hub.connect(None, params={"token": token})
            await peer.close()
            ws_line = await lines.wait_for(lambda r: '"GET /ws' in r["message"])
            await hub.close()
    finally:
        hub_log.removeHandler(lines)
        hub_log.setLevel(level)
        await server.close()
    records = [json.loads(line) for line in lines.lines]
    access = [r for r in records if r["logger"] == "hub.access"]
    assert len([r for r in access if notes in r["message"]]) == 2
    assert all(len(r["request_id"]) == 12 for r in access)
    assert len({r["request_id"] for r in access}) == len(access)
    assert ws_line["session_id"] == s["id"]
    assert ws_line["participant_id"] == s["created"]["participant_id"]
    everything = "\n".join(lines.lines)
    assert token not in everything and token[4:] not in everything

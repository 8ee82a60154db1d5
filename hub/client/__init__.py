"""The Python SDK: talk to a hub from a bot or an agent without hand-rolling frames.

    async with connect("http://127.0.0.1:8080", token) as session:
        await session.send("hello")
        async for event in session:
            ...

`connect` resumes by itself after a dropped connection (with `since`), so iterating a
session yields every message exactly once, in id order, across drops. `send` assigns a
`client_msg_id` and re-sends it after a reconnect, so a retry never posts twice.
Errors the application must handle are exceptions: `AuthFailed`, `SessionDeleted`,
`SessionFull`, `Conflict` (carrying the current note or file), `HubClientError`.

Modules: `errors` (the exceptions), `rest` (`HubAPI`), `connection` (the websocket that
reconnects and resumes), `live` (`Session`, `connect`), `compute` (pools, jobs and
runner keys, on `HubAPI`), `runner` (`Runner`: claim jobs and run them).
"""

from hub.client.attachments import Upload
from hub.client.errors import (
    AuthFailed,
    Conflict,
    HubClientError,
    HubTimeout,
    HubUnavailable,
    InsufficientCredits,
    LeaseLost,
    PayloadTooLarge,
    SessionDeleted,
    SessionFull,
)
from hub.client.live import Session, connect
from hub.client.rest import HubAPI
from hub.client.runner import OutputArtifact, Result, Runner, RunningJob

__all__ = [
    "AuthFailed",
    "Conflict",
    "HubAPI",
    "HubClientError",
    "HubTimeout",
    "HubUnavailable",
    "InsufficientCredits",
    "LeaseLost",
    "OutputArtifact",
    "PayloadTooLarge",
    "Result",
    "Runner",
    "RunningJob",
    "Session",
    "SessionDeleted",
    "SessionFull",
    "Upload",
    "connect",
]

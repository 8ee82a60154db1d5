"""The REST API against its own OpenAPI document: schemathesis generates requests for
every operation and sends them to a live `hub serve` process; no input may cause a 5xx,
and every response must match the document."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from hub.web.openapi import openapi_document
from tests.helpers import TEST_SECRET_KEY
from tests.servers import free_port

schema = schemathesis.openapi.from_dict(openapi_document())
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


class Live:
    """A `hub serve` process and a session in it, for the generated requests."""

    def __init__(self, database_url: str) -> None:
        self.base = f"http://127.0.0.1:{free_port()}"
        port = self.base.rsplit(":", 1)[1]
        env = {
            **os.environ,
            "HUB_DATABASE_URL": database_url,
            "HUB_SECRET_KEY": TEST_SECRET_KEY,
            "HUB_LOG_LEVEL": "WARNING",
            "HUB_INVITE_ATTEMPTS_PER_MINUTE": "100000",
            "HUB_INVITE_FAILURES_PER_MINUTE": "100000",
            "HUB_SESSION_CREATIONS_PER_MINUTE": "100000",
            "HUB_RATE_BURST": "100000",
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "serve", "--port", port],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        ready = threading.Event()
        self.output: list[bytes] = []

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.output.append(line)
                if b"hub: serving on" in line:
                    ready.set()

        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()
        if not ready.wait(30):
            self.stop()
            raise RuntimeError("hub did not start: " + b"".join(self.output).decode())
        self.http = requests.Session()
        self.renew()

    def renew(self) -> None:
        """A fresh session (after a generated request deleted or completed the old one)."""
        created = self.http.post(self.base + "/api/sessions", json={}, timeout=10).json()
        self.session_id = created["session"]["id"]
        self.token = created["agent_token"]
        self.invite = created["invite_code"]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(15)
        self.reader.join(5)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        if hasattr(self, "http"):
            self.http.close()


@pytest.fixture(scope="module")
def live(database_url: str) -> Iterator[Live]:
    server = Live(database_url)
    yield server
    server.stop()


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_document(case: Any, live: Live) -> None:
    """No generated request gets a 5xx; every response matches the OpenAPI document."""
    if case.path_parameters and "session_id" in case.path_parameters:
        case.path_parameters["session_id"] = live.session_id
    response = case.call(
        base_url=live.base,
        session=live.http,
        headers={"Authorization": f"Bearer {live.token}"},
        timeout=10,
    )
    case.validate_response(response, checks=CHECKS)
    if case.method.upper() in ("DELETE", "PATCH"):
        live.renew()


def test_finding_sessions_is_documented() -> None:
    """The directory, an agent's sessions and search are in the document with their
    filters, no key required, and their answers' types (search: segments)."""
    from hub.web.openapi import openapi_document

    doc = openapi_document()
    for path in ("/api/sessions", "/api/agents/{slug}/sessions", "/api/search"):
        get = doc["paths"][path]["get"]
        names = {p["name"] for p in get["parameters"] if p["in"] == "query"}
        assert {"status", "mode", "agent", "created_after", "created_before"} <= names, path
        assert {"limit", "cursor"} <= names, path
        assert "200" in get["responses"] and "400" in get["responses"], path
    search = doc["paths"]["/api/search"]["get"]
    assert {"q", "scope", "space"} <= {p["name"] for p in search["parameters"]}
    assert {"401", "404"} <= set(search["responses"])
    assert "Segment" in doc["components"]["schemas"]
    assert "post" in doc["paths"]["/api/sessions/{session_id}/watch"]

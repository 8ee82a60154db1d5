"""Fixtures for the browser tests: the system's headless Chromium (driven by Playwright,
no browser download) and a hub on a real port for it to open."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession
from playwright.async_api import Browser, async_playwright

from hub.app import create_app
from hub.config import load_config
from tests.helpers import TEST_SECRET_KEY, HubClient, HubTestServer

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    found = (
        os.environ.get("HUB_TEST_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )
    if not found:
        raise RuntimeError(
            "the browser tests need Chromium: scripts/test installs the 'chromium' package "
            "as root, or set HUB_TEST_CHROMIUM to a Chromium binary"
        )
    return found


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            await launched.close()


@contextlib.asynccontextmanager
async def page_hub(database_url: str, **overrides: Any) -> AsyncIterator[HubClient]:
    """A hub on a real port, with its production headers and the page tests' settings
    (one bus is enough here: the page does not see it), `overrides` changed."""
    config = load_config(
        {},
        database_url=database_url,
        heartbeat_interval=5.0,
        commit_batch_max=64,
        send_queue_frames=512,
        invite_attempts_per_minute=1000,
        secret_key=TEST_SECRET_KEY,
        **overrides,
    )
    server = HubTestServer(create_app(config, migrate=False), host="127.0.0.1")
    await server.start_server()
    async with ClientSession() as http:
        hub = HubClient(http, str(server.make_url("")))
        try:
            yield hub
        finally:
            await hub.close()
            await server.close()


@pytest.fixture
async def site(database_url: str) -> AsyncIterator[HubClient]:
    """The page tests' hub; "My hub" shows webhooks to a local receiver."""
    async with page_hub(database_url, webhook_allow="127.0.0.1/32", deliver_webhooks=False) as hub:
        yield hub

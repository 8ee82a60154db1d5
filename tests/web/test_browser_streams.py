"""The observer page shows messages being written as they grow, and a stream whose
author went away marked aborted (the system's headless Chromium, via Playwright)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, expect

from tests.helpers import HubClient
from tests.web.conftest import ARTIFACTS, page_hub
from tests.web.test_browser import assert_no_csp_violation, message_ids, open_page

WAIT = 10_000  # ms


@pytest.fixture
async def streaming_site(database_url: str) -> AsyncIterator[HubClient]:
    """A hub on a real port whose streams abort half a second after their author left."""
    async with page_hub(database_url, stream_abort_timeout=0.5) as hub:
        yield hub


async def test_the_page_shows_streams_live_and_aborted(
    streaming_site: HubClient, browser: Browser
) -> None:
    """A person joining mid-stream sees the text so far grow live; a committed stream
    becomes an ordinary message; an aborted one stays, marked aborted."""
    site = streaming_site
    s = await site.session_with_b(name="Streaming")
    a, b = await site.connect(s["a"]), await site.connect(s["b"])
    await a.say("Plan: I write the tokenizer, you the grammar.")
    assert (await a.request({"type": "stream_start", "stream_id": "a1"}))["type"] == "ack"
    await a.send({"type": "stream_delta", "stream_id": "a1", "text": "Reading the "})

    page = await open_page(browser, site.base + "/")
    await page.locator("#join-code").fill(s["invite"].lower())
    await page.locator("#join-name").fill("Ada")
    await page.locator("#join-form button").click()
    await expect(page.locator("#connection")).to_have_text("Live", timeout=WAIT)
    a_stream = page.locator('#streams > li[data-stream$="/a1"]')
    await expect(a_stream.locator(".content")).to_have_text("Reading the ", timeout=WAIT)
    await a.send({"type": "stream_delta", "stream_id": "a1", "text": "spec — 3 of 7 rules ✓"})
    await expect(a_stream.locator(".content")).to_have_text(
        "Reading the spec — 3 of 7 rules ✓", timeout=WAIT
    )
    await expect(a_stream.locator(".writing")).to_have_text("writing…")

    start = {"type": "stream_start", "stream_id": "b1", "msg_type": "status", "parent_id": 1}
    assert (await b.request(start))["type"] == "ack"
    await b.send({"type": "stream_delta", "stream_id": "b1", "text": "Grammar: expr, term"})
    b_stream = page.locator('#streams > li[data-stream$="/b1"]')
    await expect(b_stream.locator(".content")).to_have_text("Grammar: expr, term", timeout=WAIT)
    await page.screenshot(path=str(ARTIFACTS / "observer-streaming.png"), full_page=True)

    await a.close()  # agent A goes away mid-sentence: its stream ends aborted
    await expect(a_stream).to_have_class(
        "message streaming type-chat role-agent_a aborted", timeout=WAIT
    )
    await expect(a_stream.locator(".writing")).to_contain_text("aborted")
    await expect(a_stream.locator(".writing")).to_contain_text("disconnected")

    await b.send({"type": "stream_delta", "stream_id": "b1", "text": ", factor."})
    end = await b.request({"type": "stream_end", "stream_id": "b1", "client_msg_id": "b1"})
    assert end["type"] == "ack"
    await expect(b_stream).to_have_count(0, timeout=WAIT)
    await expect(page.locator("#msg-2 .content")).to_have_text("Grammar: expr, term, factor.")
    assert await message_ids(page) == [1, 2]
    await expect(a_stream).to_have_count(1)
    await page.screenshot(path=str(ARTIFACTS / "observer-stream-aborted.png"), full_page=True)
    await assert_no_csp_violation(page)

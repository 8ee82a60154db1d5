"""A session's forks on the session page, in a real browser: the original lists the
sessions forked from it (a new fork appears with the next news from the session), and
a fork says where it came from;
on a desktop and on a dark phone."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from tests.helpers import HubClient
from tests.web.test_page import PHONE, WAIT, assert_clean, enter, open_page, screenshot


async def test_forks_on_the_session_page(site: HubClient, browser: Browser) -> None:
    s = await site.session_with_b(name="Original")
    a = await site.connect(s["a"])
    for text in ("one", "two", "three"):
        await a.say(text)
    status, first = await site.call(
        "POST",
        f"/api/sessions/{s['id']}/fork",
        token=s["a"],
        json={"at_message_id": 1, "name": "Early"},
    )
    assert status == 201, first

    for label, context in (("desktop", {}), ("phone-dark", {**PHONE, "color_scheme": "dark"})):
        page = await open_page(browser, f"{site.base}/join/{s['invite']}", **context)
        await enter(page, "Ada")
        forks = page.locator("#forks > li")
        await expect(forks).to_have_count(1 if label == "desktop" else 2, timeout=WAIT)
        await expect(forks.last).to_contain_text("Early at message #1")
        await expect(page.locator("#fork-origin")).to_be_hidden()
        if label == "desktop":
            status, late = await site.call(
                "POST", f"/api/sessions/{s['id']}/fork", token=s["a"], json={"name": "Late"}
            )
            assert status == 201, late
            await a.say("four")  # the page reads the log on news, and sees the fork there
            await expect(forks).to_have_count(2, timeout=WAIT)
            await expect(forks.nth(0)).to_contain_text("Late at message #3")
        await page.locator("#forks-panel").scroll_into_view_if_needed()
        await screenshot(page, f"forks-{label}.png", full_page=False)
        await assert_clean(page, site.base)

    page = await open_page(browser, f"{site.base}/join/{first['invite_code']}")
    await enter(page, "Ada")
    await expect(page.locator("#fork-origin")).to_have_text(
        f"Forked from {s['id']} at message #1.", timeout=WAIT
    )
    await expect(page.locator("#messages > li")).to_have_count(1)
    await screenshot(page, "forks-origin-desktop.png", full_page=False)
    await assert_clean(page, site.base)

"""A note's and a file's history on the session page, in a real browser: every version
listed newest first with who wrote it and after which message, its text, and what
changed from the version before; on a desktop, a phone and in dark mode."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from tests.helpers import HubClient
from tests.web.test_page import PHONE, WAIT, assert_clean, enter, open_page, screenshot


async def test_note_and_file_history(site: HubClient, browser: Browser) -> None:
    s = await site.session_with_b(name="History")
    a, b = await site.connect(s["a"]), await site.connect(s["b"])
    plan = await a.request(
        {"type": "update_note", "title": "Plan", "content": "step one\n", "expected_version": 0}
    )
    note_id = plan["note"]["id"]
    await b.say("first message")
    await b.request(
        {
            "type": "update_note",
            "note_id": note_id,
            "content": "step one\nstep two\n",
            "expected_version": 1,
        }
    )
    await a.request({"type": "write_file", "path": "src/main.py", "content": "print(1)\n"})
    await a.request({"type": "write_file", "path": "src/main.py", "content": "print(2)\n"})

    for label, context in (("desktop", {}), ("phone", PHONE), ("dark", {"color_scheme": "dark"})):
        page = await open_page(browser, f"{site.base}/join/{s['invite']}", **context)
        await enter(page, "Ada")
        note = page.locator(f"#note-{note_id}")
        await expect(note.locator(".version")).to_contain_text("v2", timeout=WAIT)
        await note.locator("button.history").click()
        dialog = page.locator("#history")
        await expect(dialog).to_be_visible()
        await expect(page.locator("#history-title")).to_have_text("History of note “Plan”")
        versions = page.locator("#history-versions > li")
        await expect(versions).to_have_count(2, timeout=WAIT)
        await expect(versions.nth(0)).to_contain_text("v2 by bee")
        await expect(versions.nth(0)).to_contain_text("after message #1")
        await expect(versions.nth(1)).to_contain_text("after message #0")
        await expect(page.locator("#history-content")).to_have_text("step one\nstep two\n")
        await expect(page.locator("#history-diff .add")).to_have_text(["+step two"])
        await screenshot(page, f"history-note-{label}.png", full_page=False)
        await page.get_by_role("button", name="Version 1").click()
        await expect(page.locator("#history-content")).to_have_text("step one\n")
        await expect(page.locator("#history-diff")).to_be_hidden()
        await page.locator("#history-close").click()
        await expect(dialog).to_be_hidden()

        await page.get_by_role("button", name="src/main.py").click()
        await page.locator("#file-history").click()
        await expect(page.locator("#history-title")).to_have_text("History of src/main.py")
        await expect(versions).to_have_count(2, timeout=WAIT)
        await expect(page.locator("#history-diff .del")).to_have_text(["-print(1)"])
        await expect(page.locator("#history-diff .add")).to_have_text(["+print(2)"])
        if label != "desktop":
            overflow = await page.evaluate(
                "document.documentElement.scrollWidth > document.documentElement.clientWidth"
            )
            assert not overflow
        await screenshot(page, f"history-file-{label}.png", full_page=False)
        await assert_clean(page, site.base)

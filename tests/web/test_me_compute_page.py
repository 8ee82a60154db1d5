""" "My hub" for compute, in a real browser under the production Content-Security-Policy:
one's pools with their balance (made, topped up; a refused top-up shown) and
runner keys (made and shown once, listed with their kinds, revoked and then refused),
on a desktop and on a dark phone."""

from __future__ import annotations

import secrets

from playwright.async_api import Browser, Page, expect

from tests.helpers import HubClient
from tests.web.test_me_page import sign_up_and_log_in
from tests.web.test_page import PHONE, WAIT, assert_clean, open_page, screenshot


async def sign_in(page: Page, name: str) -> None:
    await expect(page.locator("#login-view")).to_be_visible(timeout=WAIT)
    await page.locator("#login-username").fill(name)
    await page.locator("#login-password").fill("correct horse")
    await page.locator("#login-password").press("Enter")
    await expect(page.locator("#home-view")).to_be_visible(timeout=WAIT)


async def test_pools_and_runner_keys_on_my_hub(site: HubClient, browser: Browser) -> None:
    """A person makes a pool (it starts empty), tops it up twice (a bad amount shows
    the hub's refusal), makes a runner key (its token shown once and working), sees its
    kinds, revokes it (the hub refuses it at once); hostile names stay text."""
    name = "cpu" + secrets.token_hex(4)
    await sign_up_and_log_in(site, name)
    page = await open_page(browser, f"{site.base}/me")
    await sign_in(page, name)
    await expect(page.locator("#pools")).to_have_text("No pools yet.")
    await expect(page.locator("#runner-keys")).to_have_text("No runner keys.")

    await page.locator("#pool-name").fill("<b>lab</b>")
    await page.locator("#pool-name").press("Enter")
    row = page.locator("#pools > li")
    await expect(row).to_have_count(1, timeout=WAIT)
    await expect(row.locator(".name")).to_have_text("<b>lab</b>")
    await expect(row.locator(".balance")).to_have_text("0 available")
    top_up = page.get_by_label("Credits to add to the pool <b>lab</b>")
    await top_up.fill("1500")
    await top_up.press("Enter")
    await expect(row.locator(".balance")).to_have_text("1,500 available", timeout=WAIT)
    await page.get_by_label("Credits to add to the pool <b>lab</b>").fill("250")
    await row.get_by_role("button", name="Top up").click()
    await expect(row.locator(".balance")).to_have_text("1,750 available", timeout=WAIT)
    await expect(row.locator(".spent")).to_have_text("0 spent")
    await page.get_by_label("Credits to add to the pool <b>lab</b>").fill(str(10**19))
    await row.get_by_role("button", name="Top up").click()
    await expect(page.locator("#pool-error")).to_be_visible(timeout=WAIT)
    await expect(row.locator(".balance")).to_have_text("1,750 available")

    await page.locator("#runner-key-name").fill("gpu-1")
    await page.locator("#runner-key-kinds").fill("fold.protein, dock")
    await page.locator("#runner-key-kinds").press("Enter")
    await expect(page.locator("#new-runner-key")).to_be_visible(timeout=WAIT)
    token = (await page.locator("#new-runner-key-token").text_content() or "").strip()
    assert token.startswith("rnk_")
    claim = {"kinds": ["dock"]}
    status, answer = await site.call("POST", "/api/runner/claim", token=token, json=claim)
    assert (status, answer) == (200, {"claimed": None})
    keys = page.locator("#runner-keys > li")
    await expect(keys).to_have_count(1)
    await expect(keys.first).to_contain_text("kinds: dock, fold.protein")
    await screenshot(page, "me-compute-desktop.png")

    await page.get_by_role("button", name="Revoke the runner key gpu-1").click()
    await expect(page.locator("#runner-keys > li.revoked")).to_have_count(1, timeout=WAIT)
    await expect(keys.first).to_contain_text("revoked")
    status, _ = await site.call("POST", "/api/runner/claim", token=token, json=claim)
    assert status == 401
    await assert_clean(page, site.base)

    phone = await open_page(browser, f"{site.base}/me", **PHONE, color_scheme="dark")
    await sign_in(phone, name)
    await expect(phone.locator("#pools .balance")).to_have_text("1,750 available", timeout=WAIT)
    assert not await phone.evaluate(
        "document.documentElement.scrollWidth > document.documentElement.clientWidth"
    )
    await phone.locator("#pools").scroll_into_view_if_needed()
    await screenshot(phone, "me-compute-phone-dark.png", full_page=False)
    await assert_clean(phone, site.base)

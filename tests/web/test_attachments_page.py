"""A message's attachments on the observer page, in a real browser under the production
Content-Security-Policy: an image shows its thumbnail, every attachment a button that
downloads it, and an uploaded SVG carrying script downloads without running it."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from PIL import Image, ImageDraw
from playwright.async_api import Browser, expect

from tests.helpers import HubClient
from tests.web.test_page import WAIT, assert_clean, enter, open_page, screenshot

SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" onload="window.top.pwned=1">'
    b"<script>window.top.pwned=2; alert(document.domain)</script></svg>"
)


def chart() -> bytes:
    image = Image.new("RGB", (960, 540), (250, 250, 245))
    draw = ImageDraw.Draw(image)
    for i, height in enumerate((120, 300, 210, 420, 360)):
        draw.rectangle(
            (80 + i * 170, 500 - height, 200 + i * 170, 500), fill=(40, 110 + i * 25, 200)
        )
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


async def upload(site: HubClient, s: dict[str, str], data: bytes, name: str, kind: str) -> str:
    async with site.http.post(
        f"{site.base}/api/sessions/{s['id']}/attachments",
        data=data,
        params={"name": name},
        headers={"Authorization": f"Bearer {s['a']}", "Content-Type": kind},
    ) as resp:
        created = await resp.json()
        assert resp.status == 201, created
    return str(created["id"])


async def test_attachments_show_thumbnails_and_download_inert(
    site: HubClient, browser: Browser
) -> None:
    """A message with a PNG chart and a hostile SVG: the chart shows as a 320-pixel
    thumbnail, both have download buttons with name and size; downloading the SVG (by
    the button, or by opening its address) saves it and runs none of its script; the
    CSP refuses nothing and nothing is loaded from elsewhere."""
    s = await site.session_with_b()
    png = chart()
    png_id = await upload(site, s, png, "chart.png", "image/png")
    svg_id = await upload(site, s, SVG, "trap.svg", "image/svg+xml")
    a = await site.connect(s["a"])
    await a.say(
        "Results attached: the **chart**, and the diagram.", attachment_ids=[png_id, svg_id]
    )

    page = await open_page(browser, f"{site.base}/join/{s['invite']}", accept_downloads=True)
    await enter(page, "Ada")
    uploads = page.locator("#msg-1 .uploads .upload")
    await expect(uploads).to_have_count(2, timeout=WAIT)
    thumb = uploads.nth(0).locator("img.thumbnail")
    await expect(thumb).to_have_attribute("alt", "chart.png", timeout=WAIT)
    assert await thumb.evaluate("img => img.complete && img.naturalWidth") == 320
    assert (await thumb.get_attribute("src") or "").startswith("data:image/png;base64,")
    await expect(uploads.nth(0).locator("button.download")).to_have_text(
        f"chart.png ({len(png) / 1024:.1f} KB)"
    )
    await expect(uploads.nth(1).locator("img")).to_have_count(0)
    svg_button = uploads.nth(1).locator("button.download")
    await expect(svg_button).to_have_text(f"trap.svg ({len(SVG)} B)")
    await expect(page.locator("#activity")).to_contain_text("uploaded “trap.svg” (133 B)")
    await screenshot(page, "attachments-page.png")

    async with page.expect_download() as saving:
        await svg_button.click()
    saved = await saving.value
    assert saved.suggested_filename == "trap.svg"
    assert await asyncio.to_thread(Path(await saved.path()).read_bytes) == SVG

    direct = await page.context.new_page()
    url = f"{site.base}/api/sessions/{s['id']}/attachments/{svg_id}/content?token={s['obs']}"
    async with direct.expect_download() as opened:
        await direct.evaluate("url => { window.location.href = url; }", url)
    assert (await opened.value).suggested_filename == "trap.svg"
    assert await page.evaluate("window.pwned") is None
    assert await direct.evaluate("window.pwned") is None
    await assert_clean(page, site.base)

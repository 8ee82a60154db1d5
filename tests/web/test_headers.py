"""Security headers on every kind of response, and pages that need no inline code."""

import re

import pytest
from aiohttp import ClientSession

from hub.web import STATIC
from tests.helpers import HubClient

CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "frame-ancestors": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "object-src": "'none'",
}


def policy(header: str) -> dict[str, str]:
    """A Content-Security-Policy header as {directive: sources}."""
    directives = (part.strip().split(None, 1) for part in header.split(";") if part.strip())
    return {d[0]: d[1] if len(d) > 1 else "" for d in directives}


async def headers_of(http: ClientSession, method: str, url: str, **kw: object) -> dict[str, str]:
    async with http.request(method, url, **kw) as resp:  # type: ignore[arg-type]
        await resp.read()
        return {"status": str(resp.status), **resp.headers}


async def test_every_response_carries_the_security_headers(client: HubClient) -> None:
    """The page, static files, the API docs, JSON answers and errors all carry the CSP,
    nosniff, DENY framing and no-referrer."""
    s = await client.session_with_b()
    base = client.base
    requests = [
        ("GET", "/", "200"),
        ("GET", f"/join/{s['invite']}", "200"),
        ("GET", "/api/docs", "200"),
        ("GET", "/static/app.js", "200"),
        ("GET", "/static/app.css", "200"),
        ("GET", "/static/api.css", "200"),
        ("GET", "/api/openapi.json", "200"),
        ("GET", f"/api/sessions/{s['id']}/messages", "401"),
        ("GET", "/api/nothing-here", "404"),
        ("GET", "/static/nothing-here.js", "404"),
        ("POST", "/api/sessions", "201"),
        ("GET", "/healthz", "200"),
        ("GET", "/metrics", "200"),
    ]
    for method, path, status in requests:
        got = await headers_of(
            client.http, method, base + path, json={} if method == "POST" else None
        )
        assert got["status"] == status, (path, got)
        assert policy(got.get("Content-Security-Policy", "")) == CSP, (path, got)
        assert got.get("X-Content-Type-Options") == "nosniff", path
        assert got.get("X-Frame-Options") == "DENY", path
        assert got.get("Referrer-Policy") == "no-referrer", path
    # and the websocket upgrade still works with the headers added to it
    peer = await client.connect(s["a"])
    assert (await peer.request({"type": "ping"}))["type"] == "pong"


async def test_the_3d_viewer_may_be_framed_by_the_hub_only(client: HubClient) -> None:
    """The 3D viewer's frame document is framable by the hub's own pages only, runs
    only the hub's scripts (no inline code, no eval) and may fetch nothing."""
    got = await headers_of(client.http, "GET", client.base + "/viewer3d")
    assert got["status"] == "200"
    assert policy(got["Content-Security-Policy"]) == {
        "default-src": "'none'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data:",
        "frame-ancestors": "'self'",
        "base-uri": "'none'",
        "form-action": "'none'",
    }
    assert got["X-Frame-Options"] == "SAMEORIGIN"
    assert got["X-Content-Type-Options"] == "nosniff"
    assert got["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("page", ["index.html", "api.html", "viewer3d.html"])
def test_pages_have_no_inline_script_or_style(page: str) -> None:
    """The pages load scripts and styles from files only, which the CSP allows."""
    html = (STATIC / page).read_text()
    assert not re.search(r"<style", html, re.I)
    for tag in re.findall(r"<script\b[^>]*>", html, re.I):
        assert re.search(r'\ssrc="/static/[\w./-]+\.js"', tag), tag
    assert not re.search(r"\s(style|on[a-z]+)\s*=", html, re.I)

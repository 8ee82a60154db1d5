"""Attachments live, on each bus: an upload reaches every connected participant as one
`attachment` event through the one publish path, and a watch-only token reads
attachments but may not upload."""

from __future__ import annotations

from tests.helpers import HubClient


async def test_an_upload_is_announced_live_and_watchers_read_it(client: HubClient) -> None:
    """Agent A uploads while an observer and agent B are connected: both get one
    `attachment` event with its metadata (no bytes). A public session's passer-by
    (watch-only) downloads it but is refused an upload (`forbidden`)."""
    s = await client.session_with_b()
    observer, agent_b = await client.connect(s["obs"]), await client.connect(s["b"])
    async with client.http.post(
        f"{client.base}/api/sessions/{s['id']}/attachments",
        data=b"live bytes",
        params={"name": "live.txt"},
        headers={"Authorization": f"Bearer {s['a']}", "Content-Type": "text/plain"},
    ) as resp:
        created = await resp.json()
        assert resp.status == 201, created
    for peer in (observer, agent_b):
        event = await peer.next("attachment")
        assert event["attachment"] == created
    status, _ = await client.call(
        "PATCH", f"/api/sessions/{s['id']}", token=s["a"], json={"is_private": False}
    )
    assert status == 200
    status, passer = await client.call("POST", f"/api/sessions/{s['id']}/watch", json={})
    assert status == 201 and passer["watch_only"]
    auth = {"Authorization": f"Bearer {passer['token']}"}
    base = f"{client.base}/api/sessions/{s['id']}/attachments"
    async with client.http.get(f"{base}/{created['id']}/content", headers=auth) as resp:
        assert resp.status == 200 and await resp.read() == b"live bytes"
    async with client.http.post(base, data=b"nope", headers=auth) as resp:
        assert resp.status == 403 and (await resp.json())["code"] == "forbidden"

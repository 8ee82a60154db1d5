"""/metrics: every figure described, the send path's histograms counting real sends,
closes counted by code, connections counted by role."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import TIMEOUT, HubClient

KINDS = {
    "hub_connections": "gauge",
    "hub_rooms": "gauge",
    "hub_messages_committed": "counter",
    "hub_commit_batches": "counter",
    "hub_commit_batch_size_messages": "histogram",
    "hub_commit_duration_seconds": "histogram",
    "hub_send_ack_latency_seconds": "histogram",
    "hub_bus_publish_lag_seconds": "histogram",
    "hub_gap_fill_lag_seconds": "histogram",
    "hub_websocket_closes": "counter",
    "hub_websocket_cut_off": "counter",
    "hub_rate_limited": "counter",
    "hub_webhook_attempts": "counter",
    "hub_webhook_delivery_seconds": "histogram",
    "hub_webhook_events_waiting": "gauge",
    "hub_webhook_streams_due": "gauge",
    "process_cpu_seconds": "counter",
    "python_info": "gauge",
}


async def until(hub: HubClient, name: str, value: str, **labels: str) -> None:
    """Scrape until the figure reads `value` (the hub offers no event for it)."""
    async with asyncio.timeout(TIMEOUT):
        while await hub.metric(name, **labels) != value:
            pass


async def test_every_metric_has_help_and_type(make_client: Any) -> None:
    """Each metric is served with its HELP and TYPE, as Prometheus's own content type."""
    hub: HubClient = await make_client()
    async with hub.http.get(hub.base + "/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=")
        text = await resp.text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name, kind in KINDS.items():
        assert families[name].type == kind, name
        assert families[name].documentation, name
        assert f"# HELP {name}" in text and f"# TYPE {name}" in text


async def test_the_send_path_histograms_count_every_send(make_client: Any, config: Any) -> None:
    """After 30 acked sends: 30 latencies, 30 messages over the batches, one commit
    duration per batch, and (on Redis) the publishes' wait."""
    hub: HubClient = await make_client()
    s = await hub.session_with_b()
    a = await hub.connect(s["a"])
    await asyncio.gather(*(a.say(f"m{i}") for i in range(30)))

    assert await hub.metric("hub_send_ack_latency_seconds_count") == "30"
    assert await hub.metric("hub_send_ack_latency_seconds_bucket", le="+Inf") == "30"
    assert float(await hub.metric("hub_send_ack_latency_seconds_sum")) > 0
    assert await hub.metric("hub_messages_committed_total") == "30"
    assert await hub.metric("hub_commit_batch_size_messages_sum") == "30"
    batches = await hub.metric("hub_commit_batches_total")
    assert 1 <= int(batches) <= 30
    assert await hub.metric("hub_commit_batch_size_messages_count") == batches
    assert await hub.metric("hub_commit_duration_seconds_count") == batches
    if config.redis_url is not None:
        async with asyncio.timeout(TIMEOUT):
            while await hub.metric("hub_bus_publish_lag_seconds_count") in ("", "0"):
                pass
    else:
        assert await hub.metric("hub_bus_publish_lag_seconds_count") == "0"


async def test_a_close_is_counted_by_its_code(make_client: Any) -> None:
    """A flood closed with 4029 shows as closes{code="4029"}, its refused frames as
    rate_limited{limit="frames"}; no other code is counted; a bad token's close before
    hello counts as 4001."""
    hub: HubClient = await make_client(rate_per_second=5.0, rate_burst=10)
    s = await hub.session_with_b()
    a = await hub.connect(s["a"])
    assert await hub.metric("hub_websocket_closes_total") == ""
    for i in range(60):
        await a.send({"type": "ping", "ref": f"p{i}"})
    assert await a.closed() == 4029
    assert await hub.metric("hub_websocket_closes_total", code="4029") == "1"
    assert await hub.metric("hub_websocket_closes_total") == "1"
    assert int(await hub.metric("hub_rate_limited_total", limit="frames")) > 10
    refused = await hub.connect("agt_" + "x" * 32, hello=False)  # closed before hello
    assert await refused.closed() == 4001
    assert await hub.metric("hub_websocket_closes_total", code="4001") == "1"


async def test_connections_are_counted_by_role_up_and_down(make_client: Any) -> None:
    """Connections show under their role while open and leave it when closed; a session
    with a connection counts as a room."""
    hub: HubClient = await make_client()
    s = await hub.session_with_b()
    assert await hub.metric("hub_connections") == "0"
    a = await hub.connect(s["a"])
    obs = await hub.connect(s["obs"])
    b = await hub.connect(s["b"])
    assert await hub.metric("hub_connections", role="agent_a") == "1"
    assert await hub.metric("hub_connections", role="agent_b") == "1"
    assert await hub.metric("hub_connections", role="observer") == "1"
    assert await hub.metric("hub_rooms") == "1"
    await obs.close()
    await until(hub, "hub_connections", "0", role="observer")
    assert await hub.metric("hub_connections") == "2"
    await a.close()
    await b.close()
    await until(hub, "hub_connections", "0")
    assert await hub.metric("hub_rooms") == "0"

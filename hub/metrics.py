"""Every metric the hub exposes at `/metrics`, defined once, on a registry of its own.

One `Metrics` per application (tests run several hubs in one process, so nothing goes
on prometheus_client's global registry). The parts that measure (the group committer,
the bus, the rooms, the websocket endpoint) are handed this object and call the methods
below; none imports a metric.

Names follow Prometheus practice: a `hub_` prefix, base units (seconds), `_total` on
counters, labels rather than names built from values. The send path commits ~15k
messages a second per process, so what it measures is observed once per batch: the
send→ack latency of every message of a batch is counted with one pass of `bisect` into
a `BatchHistogram` (about a sixth of the cost of `Histogram.observe` per value).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE_LATEST", "BatchHistogram", "Metrics"]

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Seconds: from half a millisecond (an idle commit on a local database) to the store's
timeout and beyond."""
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
DELIVERY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0)
"""Seconds one webhook attempt may take: a local receiver to the attempt timeout."""
WEBHOOK_OUTCOMES = ("delivered", "failed", "unreachable")
ROLES = ("agent_a", "agent_b", "observer")


class BatchHistogram(Collector):
    """A histogram observed many values at a time, with one pass over them; collected
    like any other. Only for the event loop's thread (no lock)."""

    def __init__(
        self,
        name: str,
        documentation: str,
        buckets: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:
        self._name = name
        self._documentation = documentation
        self._bounds = tuple(float(b) for b in buckets)
        self._counts = [0] * (len(self._bounds) + 1)  # the last: above every bound
        self._sum = 0.0
        registry.register(self)

    def observe_many(self, values: Iterable[float]) -> None:
        counts, bounds, where, total = self._counts, self._bounds, bisect.bisect_left, 0.0
        for value in values:
            counts[where(bounds, value)] += 1
            total += value
        self._sum += total

    def observe(self, value: float) -> None:
        self.observe_many((value,))

    def describe(self) -> Iterable[Metric]:
        return [HistogramMetricFamily(self._name, self._documentation)]

    def collect(self) -> Iterator[Metric]:
        cumulative, buckets = 0, []
        for bound, count in zip((*self._bounds, float("inf")), self._counts, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), float(cumulative)))
        family = HistogramMetricFamily(self._name, self._documentation)
        family.add_metric([], buckets, self._sum)
        yield family


class Metrics:
    """The metrics of one hub application, on `registry`."""

    def __init__(self, *, process: bool = True) -> None:
        self.registry = registry = CollectorRegistry()
        if process:
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)

        self.connections = Gauge(
            "hub_connections",
            "Websocket connections live in this process's rooms, by role.",
            ["role"],
            registry=registry,
        )
        for role in ROLES:
            self.connections.labels(role=role)
        self.rooms = Gauge(
            "hub_rooms", "Sessions with a connection in this process.", registry=registry
        )

        self.messages_committed = Counter(
            "hub_messages_committed",
            "Messages committed by the group committer (retries of a message not counted).",
            registry=registry,
        )
        self.commit_batches = Counter(
            "hub_commit_batches", "Group-commit batches settled.", registry=registry
        )
        self.commit_batch_size = Histogram(
            "hub_commit_batch_size_messages",
            "Messages in one group-commit batch.",
            buckets=BATCH_SIZE_BUCKETS,
            registry=registry,
        )
        self.commit_duration = Histogram(
            "hub_commit_duration_seconds",
            "Seconds one group-commit batch took to commit in PostgreSQL.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.send_ack_latency = BatchHistogram(
            "hub_send_ack_latency_seconds",
            "Seconds from a message being queued for commit to its sender being answered"
            " (committed and published, or refused).",
            LATENCY_BUCKETS,
            registry,
        )

        self.bus_publish_lag = BatchHistogram(
            "hub_bus_publish_lag_seconds",
            "Seconds from a publish being queued for Redis to Redis taking it.",
            LATENCY_BUCKETS,
            registry,
        )
        self.gap_fill_lag = Histogram(
            "hub_gap_fill_lag_seconds",
            "Seconds a gap in a room's message stream stayed open until it closed"
            " (by a late arrival or a read from PostgreSQL).",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

        self.websocket_closes = Counter(
            "hub_websocket_closes",
            "Websockets this hub closed, by close code.",
            ["code"],
            registry=registry,
        )
        self.websocket_cut_off = Counter(
            "hub_websocket_cut_off",
            "Websockets dropped because the peer took no close frame within a heartbeat.",
            registry=registry,
        )
        self.rate_limited = Counter(
            "hub_rate_limited",
            "Requests refused by a rate limit, by limit: frames (websocket frames), create"
            " (session creations), invite (invite redemptions), invite-failures (failed"
            " redemptions, hub-wide), connections (websockets of one participant).",
            ["limit"],
            registry=registry,
        )
        self.rate_limited.labels(limit="frames")

        self.webhook_attempts = Counter(
            "hub_webhook_attempts",
            "Webhook delivery attempts (by the worker, tests and redeliveries), by outcome:"
            " delivered (2xx), failed (any other status), unreachable (no answer: refused,"
            " timed out, connection failed).",
            ["outcome"],
            registry=registry,
        )
        for outcome in WEBHOOK_OUTCOMES:
            self.webhook_attempts.labels(outcome=outcome)
        self.webhook_latency = Histogram(
            "hub_webhook_delivery_seconds",
            "Seconds one webhook attempt took, from connecting to the answer's first"
            " kilobyte (or the failure).",
            buckets=DELIVERY_BUCKETS,
            registry=registry,
        )
        self.webhook_events_waiting = Gauge(
            "hub_webhook_events_waiting",
            "Events not yet delivered, over every stream (endpoint and session) of an"
            " enabled endpoint (those its filter will pass over included), as the worker"
            " last counted them (every process that delivers counts the same queue).",
            registry=registry,
        )
        self.webhook_streams_due = Gauge(
            "hub_webhook_streams_due",
            "Streams (endpoint and session) with events waiting whose next attempt is due.",
            registry=registry,
        )

    def exposition(self) -> bytes:
        """The registry in Prometheus text format (`CONTENT_TYPE_LATEST`)."""
        return generate_latest(self.registry)

    # -- what the parts report -------------------------------------------------------

    def batch_committed(self, size: int, seconds: float) -> None:
        self.commit_batch_size.observe(size)
        self.commit_duration.observe(seconds)

    def batch_settled(self, committed: int, now: float, queued_at: Iterable[float]) -> None:
        """A batch answered at loop time `now`: `committed` new messages, and the loop
        times its messages were queued at."""
        self.commit_batches.inc()
        if committed:
            self.messages_committed.inc(committed)
        self.send_ack_latency.observe_many([now - at for at in queued_at])

    def published(self, now: float, queued_at: Iterable[float]) -> None:
        self.bus_publish_lag.observe_many([now - at for at in queued_at])

    def gap_closed(self, seconds: float) -> None:
        self.gap_fill_lag.observe(seconds)

    def entered(self, role: str, rooms: int) -> None:
        self.connections.labels(role=role).inc()
        self.rooms.set(rooms)

    def left(self, role: str, rooms: int) -> None:
        self.connections.labels(role=role).dec()
        self.rooms.set(rooms)

    def websocket_closed(self, code: int) -> None:
        self.websocket_closes.labels(code=str(code)).inc()

    def limited(self, limit: str) -> None:
        self.rate_limited.labels(limit=limit).inc()

    def webhook_attempted(self, status: int | None, latency_ms: int) -> None:
        if status is None:
            outcome = "unreachable"
        else:
            outcome = "delivered" if 200 <= status < 300 else "failed"
        self.webhook_attempts.labels(outcome=outcome).inc()
        self.webhook_latency.observe(latency_ms / 1000)

    def webhook_queue(self, events_waiting: int, streams_due: int) -> None:
        self.webhook_events_waiting.set(events_waiting)
        self.webhook_streams_due.set(streams_due)

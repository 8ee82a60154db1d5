"""A room turns whatever the bus delivers into one ordered, gap-free stream."""

import asyncio

import msgspec

from hub.domain import Message, Principal
from hub.live import Outbox, Room
from hub.live.room import GAP_WAIT
from hub.metrics import Metrics
from hub.protocol import MessageEvent, encode
from tests.helpers import make_message, message_payload

message = make_message
payload = message_payload


class Store:
    """What PostgreSQL holds, and how often the room had to ask."""

    def __init__(self, upto: int) -> None:
        self.upto = upto
        self.reads = 0

    async def fetch_after(self, session_id: str, after: int, limit: int) -> list[Message]:
        self.reads += 1
        return [message(i) for i in range(after + 1, min(self.upto, after + limit) + 1)]


class Sink:
    def __init__(self) -> None:
        self.ids: list[int] = []
        self.changed = asyncio.Event()
        self.closed: tuple[int, str] | None = None

    async def send(self, frames: list[bytes]) -> None:
        for frame in frames:
            decoded = msgspec.json.decode(frame)
            if decoded["type"] == "message":
                self.ids.append(decoded["message"]["id"])
        self.changed.set()

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)
        self.changed.set()

    async def until(self, ids: list[int]) -> None:
        async with asyncio.timeout(5):
            while self.ids != ids:
                self.changed.clear()
                await self.changed.wait()


def new_outbox(sink: Sink, limit: int = 100) -> Outbox:
    """An outbox writing to `sink`, still catching up and not started."""
    return Outbox(
        Principal(session_id="ses_test", role="observer", participant_id="o"),
        limit=limit,
        send=sink.send,
        close=sink.close,
    )


def outbox(sink: Sink, limit: int = 100) -> Outbox:
    box = new_outbox(sink, limit)
    box.go_live(0)
    box.start()
    return box


async def test_out_of_order_arrivals_are_released_in_order() -> None:
    """3, 1, 2 arriving become 1, 2, 3 without asking the database."""
    store, sink = Store(upto=3), Sink()
    room = Room("ses_test", store.fetch_after, page_size=10)
    room.add(outbox(sink))
    room.start_at(0)
    for i in (3, 1, 2):
        room.on_payload(payload(i))
    await sink.until([1, 2, 3])
    assert store.reads == 0
    await room.close()


async def test_duplicates_and_old_ids_are_dropped() -> None:
    """An id already delivered, or at/below the start, is not delivered again."""
    store, sink = Store(upto=3), Sink()
    room = Room("ses_test", store.fetch_after, page_size=10)
    room.add(outbox(sink))
    room.start_at(1)
    for i in (1, 2, 2, 3, 2, 3):
        room.on_payload(payload(i))
    await sink.until([2, 3])
    await room.close()


async def test_a_gap_that_stays_open_is_filled_from_the_store() -> None:
    """When 2..4 never arrive, the room reads them from PostgreSQL and goes on."""
    store, sink = Store(upto=6), Sink()
    room = Room("ses_test", store.fetch_after, page_size=2)
    room.add(outbox(sink))
    room.start_at(0)
    for i in (1, 5, 6):
        room.on_payload(payload(i))
    await sink.until([1, 2, 3, 4, 5, 6])
    assert store.reads >= 2  # pages no larger than page_size
    await room.close()


async def test_events_before_the_start_are_replayed() -> None:
    """Payloads arriving while the room reads its start position are not lost."""
    store, sink = Store(upto=3), Sink()
    room = Room("ses_test", store.fetch_after, page_size=10)
    room.add(outbox(sink))
    room.on_payload(payload(2))
    room.on_payload(payload(3))
    room.start_at(1)
    await sink.until([2, 3])
    await room.close()


async def test_malformed_payloads_are_dropped() -> None:
    """Garbage from the bus is logged and ignored; the stream goes on."""
    store, sink = Store(upto=2), Sink()
    room = Room("ses_test", store.fetch_after, page_size=10)
    room.add(outbox(sink))
    room.start_at(0)
    for junk in (b"", b"garbage", b"m1", b"q1\n{}", b"mx\n{}"):
        room.on_payload(junk)
    room.on_payload(payload(1))
    room.on_payload(payload(2))
    await sink.until([1, 2])
    await room.close()


async def test_resync_reads_what_the_bus_lost() -> None:
    """After a bus outage, resync brings the room up to what PostgreSQL holds."""
    store, sink = Store(upto=5), Sink()
    room = Room("ses_test", store.fetch_after, page_size=2)
    room.add(outbox(sink))
    room.start_at(1)
    room.resync()
    await sink.until([2, 3, 4, 5])
    await room.close()


async def test_overflowing_outbox_closes_with_resume_code() -> None:
    """More frames than the outbox holds closes the connection with 4008."""
    sink = Sink()
    box = new_outbox(sink, limit=3)
    box.go_live(0)  # writer not started: nothing drains
    for i in range(1, 5):
        box.offer(i, encode(MessageEvent(message=message(i))))
    await box.stop()
    assert sink.closed is not None and sink.closed[0] == 4008


async def test_a_burst_goes_out_in_one_write_and_a_peer_behind_gets_the_writer() -> None:
    """Frames queued in one turn of the loop are written at once, in one write; when
    the peer is behind, the writer task sends them instead (and waits for it)."""
    from hub.live import Flusher

    sink, writes, written = Sink(), [], asyncio.Event()
    behind = False

    def write_now(frames: list[bytes]) -> bool:
        if behind:
            return False
        writes.append([msgspec.json.decode(f)["message"]["id"] for f in frames])
        written.set()
        return True

    box = Outbox(
        Principal(session_id="ses_test", role="observer", participant_id="o"),
        limit=100,
        send=sink.send,
        close=sink.close,
        write_now=write_now,
        flusher=Flusher(),
    )
    box.go_live(0)
    box.start()
    for i in (1, 2, 3):
        box.offer(i, encode(MessageEvent(message=message(i))))
    async with asyncio.timeout(5):
        await written.wait()
    assert writes == [[1, 2, 3]] and sink.ids == []
    behind = True
    box.offer(4, encode(MessageEvent(message=message(4))))
    await sink.until([4])
    assert writes == [[1, 2, 3]]
    await box.stop()


async def test_with_the_bus_down_a_gap_is_filled_with_all_that_follows_it() -> None:
    """With the bus unhealthy, a gap is read at once with everything PostgreSQL has past
    the room (more will not come through the bus), held messages delivered once."""
    store, sink = Store(upto=6), Sink()
    room = Room("ses_test", store.fetch_after, page_size=10, bus_healthy=lambda: False)
    room.add(outbox(sink))
    room.start_at(0)
    for i in (1, 3):
        room.on_payload(payload(i))
    await sink.until([1, 2, 3, 4, 5, 6])
    assert store.reads == 1
    room.on_payload(payload(4))  # a late copy: already delivered
    await room.close()
    assert sink.ids == [1, 2, 3, 4, 5, 6]


async def test_a_gap_is_timed_until_it_closes() -> None:
    """A gap filled from the store is observed once, for at least the wait before the
    read; a stream without gaps observes none."""
    store, sink, metrics = Store(upto=4), Sink(), Metrics(process=False)
    room = Room("ses_test", store.fetch_after, page_size=10, metrics=metrics)
    room.add(outbox(sink))
    room.start_at(0)
    room.on_payload(payload(1))
    count = "hub_gap_fill_lag_seconds_count"
    assert metrics.registry.get_sample_value(count) == 0
    room.on_payload(payload(4))
    await sink.until([1, 2, 3, 4])
    assert metrics.registry.get_sample_value(count) == 1
    lag = metrics.registry.get_sample_value("hub_gap_fill_lag_seconds_sum")
    assert lag is not None and lag >= GAP_WAIT * 0.9  # the loop may wake a little early
    await room.close()


async def test_an_outbox_closing_while_catching_up_sends_only_the_close() -> None:
    """Told to close (the session was deleted) during its catch-up, an outbox drops what
    arrived meanwhile, and once started sends the close and nothing else."""
    sink = Sink()
    box = new_outbox(sink, limit=10)
    box.offer(1, encode(MessageEvent(message=message(1))))
    box.finish(4004, "session deleted")
    assert box.state == "closing" and box.closed_with is None
    box.offer(2, encode(MessageEvent(message=message(2))))
    box.go_live(0)
    assert box.state == "closing"
    box.start()
    async with asyncio.timeout(5):
        while sink.closed is None:
            sink.changed.clear()
            await sink.changed.wait()
    await box.stop()
    assert sink.closed == (4004, "session deleted") and sink.ids == []
    assert box.state == "closed" and box.closed_with == 4004
    box.offer(3, encode(MessageEvent(message=message(3))))
    assert sink.ids == []


async def test_an_aborted_outbox_closes_at_once_and_takes_nothing_more() -> None:
    """Abort drops what is queued and closes now, however many frames wait; a later
    finish or offer changes nothing."""
    sink = Sink()
    box = new_outbox(sink, limit=10)
    box.go_live(0)  # writer not started: the frames stay queued
    for i in range(1, 4):
        box.offer(i, encode(MessageEvent(message=message(i))))
    box.abort(4008, "too slow")
    box.finish(4004, "session deleted")
    box.offer(4, encode(MessageEvent(message=message(4))))
    await box.stop()
    assert sink.closed == (4008, "too slow") and sink.ids == []
    assert box.closed_with == 4008

"""Both buses honour one contract: per-session delivery, unsubscribe, presence TTLs."""

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis
from nanoid import generate as nanoid

from hub.bus import Bus, MemoryBus, keys, pack, unpack
from hub.bus.redis import RedisBus
from tests.helpers import make_message, message_payload

TIMEOUT = 5.0


@pytest.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    made: Bus = (
        MemoryBus() if request.param == "memory" else RedisBus(request.getfixturevalue("redis_url"))
    )
    await made.start()
    yield made
    await made.close()


class Inbox:
    def __init__(self) -> None:
        self.items: list[bytes] = []
        self.changed = asyncio.Event()

    def __call__(self, payload: bytes) -> None:
        self.items.append(payload)
        self.changed.set()

    async def wait(self, predicate: Callable[[list[bytes]], bool]) -> None:
        async with asyncio.timeout(TIMEOUT):
            while not predicate(self.items):
                self.changed.clear()
                await self.changed.wait()


def session() -> str:
    import secrets

    return "ses_" + secrets.token_hex(8)


async def test_publish_reaches_subscribers_of_that_session_only(bus: Bus) -> None:
    """A payload reaches every subscriber of its session, in order, and no one else."""
    s1, s2 = session(), session()
    one, two, other = Inbox(), Inbox(), Inbox()
    await bus.subscribe(s1, one)
    await bus.subscribe(s1, two)
    await bus.subscribe(s2, other)
    for i in range(1, 4):
        await bus.publish(s1, pack("m", i, b"{}"))
    await bus.publish_many([(s1, pack("m", i, b"{}")) for i in range(4, 7)])
    await one.wait(lambda items: len(items) == 6)
    await two.wait(lambda items: len(items) == 6)
    assert [unpack(p).message_id for p in one.items] == [1, 2, 3, 4, 5, 6]
    assert other.items == []


async def test_unsubscribed_listener_hears_nothing(bus: Bus) -> None:
    """After unsubscribe a listener gets nothing more; the others still do."""
    s = session()
    gone, stays = Inbox(), Inbox()
    await bus.subscribe(s, gone)
    await bus.subscribe(s, stays)
    await bus.unsubscribe(s, gone)
    await bus.publish(s, pack("e", 0, b"{}"))
    await stays.wait(lambda items: len(items) == 1)
    assert gone.items == []


async def test_presence_expires_and_clears(bus: Bus) -> None:
    """Live presence is there until its TTL passes or it is cleared."""
    s = session()
    await bus.set_presence(s, "p1", b"one", ttl=60)
    await bus.set_presence(s, "p2", b"two", ttl=0.2)
    assert await bus.live_presence(s) == {"p1": b"one", "p2": b"two"}
    async with asyncio.timeout(TIMEOUT):
        # expiry is a matter of time passing: nothing to wait on but the clock
        while "p2" in await bus.live_presence(s):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    await bus.clear_presence(s, "p1")
    assert await bus.live_presence(s) == {}
    assert bus.healthy()


def test_envelopes_reject_garbage() -> None:
    """Malformed bus payloads are refused by the envelope parser."""
    for bad in (b"", b"m", b"x1\n{}", b"m0\n{}", b"e5\n{}", b"mNaN\n{}", b"m-1\n{}"):
        with pytest.raises(ValueError):
            unpack(bad)
    assert unpack(pack("m", 7, b'{"a":1}')).frame == b'{"a":1}'


def event(session_id: str, message_id: int) -> bytes:
    return message_payload(message_id, session_id)


async def test_redis_bus_crosses_processes_once(redis_url: str) -> None:
    """Two Redis buses (two processes): each hears the other's payloads exactly once,
    and its own once (locally); malformed payloads on the channel are dropped; a
    participant present on both stays live until both let go."""
    first, second = RedisBus(redis_url), RedisBus(redis_url)
    await first.start()
    await second.start()
    try:
        s = session()
        in_first, in_second = Inbox(), Inbox()
        await first.subscribe(s, in_first)
        await second.subscribe(s, in_second)
        raw = aioredis.from_url(redis_url)
        for junk in (b"no separator here", b"node|m1\n{}", b"node|" + event("ses_other", 1)):
            await raw.publish(keys.session_channel(s), junk)
        await raw.aclose()
        await first.publish(s, event(s, 1))
        await second.publish(s, event(s, 2))
        for inbox in (in_first, in_second):
            await inbox.wait(lambda items: len(items) >= 2)
        await first.publish(s, event(s, 3))
        await first.set_presence(s, "both", b"on first", ttl=60)
        await second.set_presence(s, "both", b"on second", ttl=60)
        await first.clear_presence(s, "both")
        assert await second.live_presence(s) == {"both": b"on second"}
        await second.clear_presence(s, "both")
        assert await first.live_presence(s) == {}
        for inbox in (in_first, in_second):
            await inbox.wait(lambda items: len(items) >= 3)
            assert sorted(unpack(p).message_id for p in inbox.items) == [1, 2, 3]
    finally:
        await first.close()
        await second.close()


def test_verify_accepts_only_consistent_events() -> None:
    """Remote payloads must be real events of the channel's session, envelope and frame
    agreeing; anything else would be relayed to clients, so it is refused."""
    from hub.bus import verify
    from hub.domain import Presence
    from hub.protocol import MessageEvent, PresenceEvent, encode

    frame = encode(MessageEvent(message=make_message(3, "ses_x")))
    assert verify(pack("m", 3, frame), "ses_x")
    assert not verify(pack("m", 4, frame), "ses_x")  # id disagrees
    assert not verify(pack("m", 3, frame), "ses_y")  # another session's message
    assert not verify(pack("e", 0, frame), "ses_x")  # kind disagrees
    presence = encode(
        PresenceEvent(presence=Presence(participant_id="p", role="observer", status="idle"))
    )
    assert verify(pack("p", 0, presence), "ses_x")
    for junk in (b"m1\nnot json", b"p0\n{}", b"e0\n[]", b"d0\n{}", b"zz"):
        assert not verify(junk, "ses_x")


def test_one_redis_message_carries_many_payloads() -> None:
    """Payloads of one session travel as one Redis message and come out the same, in
    order; a body cut short or garbled yields what came before the damage."""
    from hub.bus.wire import unwire, wire

    payloads = [b"m1\n{}", b"", b"m2\n" + b"x" * 1000, b"e0\n:|\n"]
    assert unwire(wire(payloads)) == payloads
    body = wire(payloads)
    assert unwire(body[:-3]) == payloads[:3]
    assert unwire(b"5:hello" + b"zz:oops" + wire([b"after"])) == [b"hello"]
    assert unwire(b"") == []


async def test_a_bucket_gives_its_burst_then_says_how_long_to_wait(bus: Bus) -> None:
    """A token bucket allows its burst, then answers the seconds until the next token;
    a look (cost 0) spends nothing."""
    subject = nanoid()
    assert [await bus.take("test", subject, 1.0, 3) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = await bus.take("test", subject, 1.0, 3)
    assert 0.0 < wait <= 1.0
    other = nanoid()
    assert await bus.take("test", other, 1.0, 1, cost=0) == 0.0
    assert await bus.take("test", other, 1.0, 1) == 0.0
    assert await bus.take("test", other, 1.0, 1, cost=0) > 0.0


async def test_a_negative_cost_gives_tokens_back_up_to_the_burst(bus: Bus) -> None:
    """A token taken and given back (cost -1) is there again; giving back more than
    was taken fills the bucket to its burst, no further."""
    subject = nanoid()
    assert [await bus.take("test", subject, 0.01, 2) for _ in range(2)] == [0.0, 0.0]
    assert await bus.take("test", subject, 0.01, 2) > 0.0
    assert await bus.take("test", subject, 0.01, 2, cost=-1) == 0.0
    assert await bus.take("test", subject, 0.01, 2) == 0.0
    assert await bus.take("test", subject, 0.01, 2, cost=0) > 0.0
    for _ in range(5):
        assert await bus.take("test", subject, 0.01, 2, cost=-1) == 0.0
    assert [await bus.take("test", subject, 0.01, 2) for _ in range(2)] == [0.0, 0.0]
    assert await bus.take("test", subject, 0.01, 2) > 0.0


async def test_connection_slots_are_capped_and_released(bus: Bus) -> None:
    """A participant gets at most `limit` slots; releasing one frees it."""
    session = nanoid()
    assert [await bus.claim_connection(session, "p", f"c{i}", 2, 30.0) for i in range(3)] == [
        True,
        True,
        False,
    ]
    assert await bus.claim_connection(session, "q", "c9", 2, 30.0)
    await bus.release_connection(session, "p", "c0")
    assert await bus.claim_connection(session, "p", "c3", 2, 30.0)


async def test_slots_of_a_crashed_process_lapse_and_refreshed_ones_stay(redis_url: str) -> None:
    """Slots a process stops refreshing (it crashed) lapse after their TTL, so they do
    not block the participant forever; slots it refreshes stay."""
    session = nanoid()
    crashed, alive, other = RedisBus(redis_url), RedisBus(redis_url), RedisBus(redis_url)
    for made in (crashed, alive, other):
        await made.start()
    try:
        assert await crashed.claim_connection(session, "p", "gone", 2, 0.5)
        assert await alive.claim_connection(session, "p", "kept", 2, 0.5)
        await alive.refresh_connections(30.0)
        assert not await other.claim_connection(session, "p", "new", 2, 30.0)
        async with asyncio.timeout(TIMEOUT):  # the lapse is the behaviour: poll for it
            while not await other.claim_connection(session, "p", "new", 2, 30.0):  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        assert not await other.claim_connection(session, "p", "newer", 2, 30.0)
    finally:
        for made in (crashed, alive, other):
            await made.close()


def test_every_event_type_has_its_envelope_kind() -> None:
    """The envelope kind comes from the event's type: messages carry their id, presence
    is `p`, a deletion `d`, every other event `e`; and `envelope` writes what `verify`
    accepts, for each type the protocol has."""
    import typing
    from datetime import UTC, datetime

    from hub.bus import envelope, kind_of, verify
    from hub.domain import Artifact, Attachment, FileEntry, Note, Presence, Session, StreamInfo
    from hub.domain.approvals import Approval, Interrupt
    from hub.domain.artifacts import Table
    from hub.domain.jobs import Job, JobLogEntry
    from hub.domain.pipelines import PipelineRun, RunLogEntry, RunNode
    from hub.protocol import (
        ApprovalEvent,
        ArtifactEvent,
        AttachmentEvent,
        Event,
        FileEvent,
        InterruptEvent,
        JobEvent,
        JobLogEvent,
        MessageEvent,
        NoteEvent,
        PipelineRunEvent,
        PresenceEvent,
        SessionEvent,
        StreamDeltaEvent,
        StreamEndedEvent,
        StreamStartedEvent,
    )

    now = datetime.now(UTC)
    session = Session(
        id="ses_x",
        name="n",
        status="active",
        mode="async",
        is_private=False,
        agent_a_id="a",
        agent_b_id=None,
        invite_expires_at=now,
        workspace_id=None,
        metadata={},
        creator_type="agent",
        creator_name=None,
        last_message_id=0,
        created_at=now,
        updated_at=now,
    )
    note = Note(
        id=1,
        session_id="ses_x",
        title="t",
        content="c",
        version=1,
        last_editor="a",
        created_at=now,
        updated_at=now,
    )
    file = FileEntry(
        content="x",
        session_id="ses_x",
        path="a.txt",
        content_hash="h",
        size=1,
        version=1,
        last_editor="a",
        created_at=now,
        updated_at=now,
    )
    attachment = Attachment(
        id="att_" + "a" * 21,
        session_id="ses_x",
        name="a.png",
        content_type="image/png",
        size=1,
        sha256="0" * 64,
        uploader="a",
        uploader_role="agent_a",
        thumbnail=False,
        created_at=now,
    )
    artifact = Artifact(
        id=1,
        session_id="ses_x",
        message_id=1,
        kind="table",
        title="t",
        data=Table(columns=["a"], rows=[[1]]),
        size=42,
        version=1,
        creator="a",
        last_editor="a",
        created_at=now,
        updated_at=now,
    )
    job = Job(
        id="job_" + "x" * 21,
        session_id="ses_x",
        pool_id="pol_" + "x" * 21,
        kind="echo",
        input=None,
        input_attachments=[],
        requested_by="a",
        requested_role="agent_a",
        client_job_id=None,
        status="queued",
        progress=0,
        progress_message="",
        output=None,
        output_attachments=[],
        output_artifacts=[],
        error=None,
        cost_reserved=1,
        cost_used=0,
        cost_charged=None,
        cost_refunded=0,
        attempts=0,
        max_attempts=3,
        runner_key_id=None,
        lease_until=None,
        log_count=0,
        created_at=now,
        started_at=None,
        finished_at=None,
        updated_at=now,
    )
    samples = {
        MessageEvent: (MessageEvent(message=make_message(7, "ses_x")), ("m", 7)),
        PresenceEvent: (
            PresenceEvent(presence=Presence(participant_id="p", role="observer", status="idle")),
            ("p", 0),
        ),
        SessionEvent: (SessionEvent(session=session), ("e", 0)),
        NoteEvent: (NoteEvent(note=note), ("e", 0)),
        FileEvent: (FileEvent(file=file), ("e", 0)),
        AttachmentEvent: (AttachmentEvent(attachment=attachment), ("e", 0)),
        ArtifactEvent: (ArtifactEvent(artifact=artifact), ("e", 0)),
        StreamStartedEvent: (
            StreamStartedEvent(
                stream=StreamInfo(
                    id="s",
                    session_id="ses_x",
                    author_id="a",
                    author_role="agent_a",
                    msg_type="chat",
                    parent_id=None,
                    started_at=now,
                )
            ),
            ("e", 0),
        ),
        StreamDeltaEvent: (
            StreamDeltaEvent(session_id="ses_x", stream_id="s", author_id="a", offset=0, text="t"),
            ("e", 0),
        ),
        StreamEndedEvent: (
            StreamEndedEvent(session_id="ses_x", stream_id="s", author_id="a", aborted=True),
            ("e", 0),
        ),
        ApprovalEvent: (
            ApprovalEvent(
                approval=Approval(
                    session_id="ses_x",
                    message_id=3,
                    requester_id="a",
                    requester_role="agent_b",
                    description="d",
                    expires_at=now,
                    status="expired",
                )
            ),
            ("e", 0),
        ),
        InterruptEvent: (
            InterruptEvent(
                session_id="ses_x",
                message_id=4,
                interrupt=Interrupt(
                    target="agent_b", target_id="b", by="a", by_role="agent_a", reason="r"
                ),
            ),
            ("e", 0),
        ),
        JobEvent: (JobEvent(job=job), ("e", 0)),
        JobLogEvent: (
            JobLogEvent(
                session_id="ses_x",
                job_id=job.id,
                entries=[JobLogEntry(seq=1, attempt=1, level="info", text="t", at=now)],
            ),
            ("e", 0),
        ),
        PipelineRunEvent: (
            PipelineRunEvent(
                run=PipelineRun(
                    id="run_" + "x" * 21,
                    session_id="ses_x",
                    artifact_id=1,
                    artifact_version=1,
                    title="t",
                    pool_id=job.pool_id,
                    requested_by="a",
                    requested_role="agent_a",
                    status="running",
                    cancelled_by=None,
                    cost_reserved=1,
                    nodes=[
                        RunNode(
                            id="n",
                            type="echo",
                            label=None,
                            upstream=[],
                            job_id=job.id,
                            state="queued",
                        )
                    ],
                    log_count=1,
                    created_at=now,
                    finished_at=None,
                    updated_at=now,
                ),
                log=[RunLogEntry(seq=1, node=None, status="running", result=None, at=now)],
            ),
            ("e", 0),
        ),
    }
    assert set(samples) == set(typing.get_args(Event))
    for event, kind in samples.values():
        assert kind_of(event) == kind
        assert verify(envelope(event), "ses_x")
        assert not verify(envelope(event), "ses_y") or isinstance(event, PresenceEvent)
    deleted = SessionEvent(session=session, deleted=True)
    assert kind_of(deleted) == ("d", 0) and verify(envelope(deleted), "ses_x")


async def test_open_streams_are_shared_with_their_text(bus: Bus) -> None:
    """An open stream is recorded once per session id, its author's limit holds, its
    text grows by appends, and closing it forgets it (text and all)."""
    s = session()
    first = (s, "one", "ann")
    assert await bus.open_stream(first, b'{"id":"one"}', 2, 30.0) == 1
    assert await bus.open_stream((s, "one", "bob"), b"{}", 2, 30.0) == -1
    assert await bus.open_stream((s, "two", "ann"), b'{"id":"two"}', 2, 30.0) == 1
    assert await bus.open_stream((s, "three", "ann"), b"{}", 2, 30.0) == 0
    assert await bus.open_stream((s, "three", "bob"), b'{"id":"three"}', 2, 30.0) == 1
    await bus.append_stream(first, "Hé", 30.0)
    await bus.append_stream(first, "llo", 30.0)
    await bus.refresh_streams([first], 30.0)
    assert sorted(await bus.open_streams(s)) == [
        (b'{"id":"one"}', "Héllo"),
        (b'{"id":"three"}', ""),
        (b'{"id":"two"}', ""),
    ]
    assert await bus.stream_info(s, "two") == b'{"id":"two"}'
    await bus.close_stream(first, 30.0)
    assert await bus.stream_info(s, "one") is None
    assert len(await bus.open_streams(s)) == 2
    assert await bus.open_stream((s, "one", "ann"), b'{"id":"one"}', 2, 30.0) == 1
    assert dict(await bus.open_streams(s))[b'{"id":"one"}'] == ""
    assert await bus.open_streams(session()) == []


async def test_a_stream_is_told_open_ended_or_lapsed(bus: Bus) -> None:
    """In one call: a refreshed stream is open, one its holder closed is ended (until
    the same id opens again), one its holder stopped refreshing has lapsed."""
    s = session()
    going, done, lost = (s, "going", "ann"), (s, "done", "ann"), (session(), "lost", "bob")
    for stream in (going, done, lost):
        assert await bus.open_stream(stream, b"{}", 4, 30.0) == 1
    await bus.close_stream(done, 30.0)
    await bus.refresh_streams([lost], -1.0)  # as if its last refresh was long ago
    never = (session(), "never", "ann")
    assert await bus.stream_states([going, done, lost, never]) == [
        "open",
        "ended",
        "lapsed",
        "lapsed",
    ]
    assert await bus.open_stream(done, b"{}", 4, 30.0) == 1
    await bus.refresh_streams([done], -1.0)
    assert await bus.stream_states([done]) == ["lapsed"], "an end before a reopen is stale"
    assert await bus.stream_states([]) == []

"""The hub's use cases, one service per area, shared by the REST routes and the websocket.

Each service checks capabilities, runs the store in transactions (each change with its
activity row, `hub.store.changes`) and publishes the resulting events (`Events`). None
answers success before the change is committed, and none writes SQL. `Hub` is the small
object holding them, with the live side (rooms and presence upkeep) they feed.
"""

from __future__ import annotations

from hub.bus import Bus
from hub.config import Config
from hub.live import PresenceUpkeep, Rooms
from hub.metrics import Metrics
from hub.services.access import Access
from hub.services.accounts import Accounts
from hub.services.activity import ActivityLog
from hub.services.approvals import Approvals
from hub.services.artifacts import Artifacts
from hub.services.attachments import Attachments
from hub.services.directory import Directory
from hub.services.events import Events
from hub.services.exports import Exports
from hub.services.files import Files
from hub.services.forks import Forks
from hub.services.jobs import Jobs
from hub.services.messages import PAGE_BYTES, Messages
from hub.services.notes import Notes
from hub.services.pipelines import Pipelines
from hub.services.pools import Pools
from hub.services.presence import PresenceService
from hub.services.profiles import Profiles
from hub.services.ratings import Ratings
from hub.services.runners import Runners
from hub.services.search import Search
from hub.services.secrets import Secrets
from hub.services.sessions import Sessions, Snapshot
from hub.services.spaces import Spaces
from hub.services.streams import Streams
from hub.services.templates import Templates
from hub.services.webhooks import Webhooks
from hub.store import Store
from hub.store.blobs import PostgresBlobs
from hub.vault import Keyring

__all__ = ["PAGE_BYTES", "Hub", "Snapshot"]


class Hub:
    """The area services over one store and one bus, and this process's live side."""

    def __init__(
        self, config: Config, store: Store, bus: Bus, *, metrics: Metrics | None = None
    ) -> None:
        self.config = config
        self.store = store
        self.bus = bus
        self.events = Events(bus)
        self.access = Access(config, store, bus, metrics=metrics)
        self.accounts = Accounts(config, store, self.access)
        self.profiles = Profiles(store)
        self.ratings = Ratings(store, self.profiles)
        self.directory = Directory(store)
        self.keyring = Keyring.parse(config.secret_key or "")
        self.secrets = Secrets(store, self.keyring)
        self.webhooks = Webhooks(store, self.keyring, config, metrics=metrics)
        self.presence = PresenceService(store, bus, self.events, ttl=self.access.slot_ttl)
        self.sessions = Sessions(config, store, self.events, self.access, self.presence)
        self.spaces = Spaces(store, self.events)
        self.search = Search(config, store, self.access)
        self.templates = Templates(store)
        self.forks = Forks(config, store, self.access, self.sessions)
        self.messages = Messages(config, store, self.events, metrics=metrics)
        self.streams = Streams(config, store, bus, self.events, self.messages)
        self.approvals = Approvals(config, store, self.events, self.messages)
        self.notes = Notes(store, self.events)
        self.files = Files(store, self.events)
        self.attachments = Attachments(config, store, PostgresBlobs(store), self.events)
        self.artifacts = Artifacts(store, self.events, self.messages)
        self.pools = Pools(store, self.events)
        self.jobs = Jobs(config, store, self.events)
        self.runners = Runners(config, store, self.events)
        self.pipelines = Pipelines(store, self.events)
        self.activity = ActivityLog(store)
        self.exports = Exports(config, store, self.access)
        self.rooms = Rooms(
            bus,
            self.messages.fetch_after,
            self.messages.last_message_id,
            page_size=config.commit_batch_max,
            metrics=metrics,
            observe=self.streams.observe,
            on_closed=self.streams.unwatch,
        )
        self.upkeep = PresenceUpkeep(
            self.rooms,
            bus,
            interval=config.heartbeat_interval,
            ttl=self.access.slot_ttl,
            heads=self.messages.heads,
            announce_online=self.presence.announce,
            announce_offline=self.presence.announce_offline,
        )
        on_reconnect = getattr(bus, "on_reconnect", None)
        if on_reconnect is not None:
            on_reconnect(self.rooms.resync_all)

    async def readiness(self) -> tuple[bool, bool]:
        """Whether PostgreSQL answers, and whether the bus is connected."""
        return await self.store.ping(), self.bus.healthy()

    async def start(self) -> None:
        self.messages.start()
        self.streams.start()
        self.approvals.start()
        self.jobs.start()
        self.upkeep.start()

    async def close(self) -> None:
        await self.upkeep.close()
        await self.jobs.close()
        await self.approvals.close()
        await self.streams.close()
        await self.messages.close()
        await self.webhooks.close()

"""The live side of this process: rooms (one per session with connections here), each
connection's outbox, and the presence upkeep that keeps what Redis says true."""

from hub.live.outbox import Flusher, Outbox
from hub.live.presence import PresenceUpkeep
from hub.live.room import Room
from hub.live.rooms import Rooms

__all__ = ["Flusher", "Outbox", "PresenceUpkeep", "Room", "Rooms"]

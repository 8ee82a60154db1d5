"""REST bodies of presence."""

from __future__ import annotations

import msgspec

from hub.domain import Presence


class PresenceList(msgspec.Struct, kw_only=True):
    presence: list[Presence]

"""REST bodies of the activity log: a page and its query."""

from __future__ import annotations

from typing import Annotated

import msgspec

from hub.api.messages import MAX_ID
from hub.domain import Activity


class ActivityQuery(msgspec.Struct):
    """Query of GET /activity: rows after an id, oldest first."""

    after: Annotated[int, msgspec.Meta(ge=0, le=MAX_ID, description="rows after this id")] = 0
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000, description="at most this many")] = 100


class ActivityPage(msgspec.Struct, kw_only=True):
    activity: list[Activity]

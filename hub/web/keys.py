"""Typed application state shared by the routes."""

from __future__ import annotations

from collections import Counter
from weakref import WeakSet

from aiohttp import web

from hub.config import Config
from hub.services import Hub

__all__ = ["CONFIG", "HUB", "SOCKETS", "STATS"]

CONFIG = web.AppKey("config", Config)
HUB = web.AppKey("hub", Hub)
STATS = web.AppKey("stats", Counter[str])
SOCKETS = web.AppKey("sockets", WeakSet[web.WebSocketResponse])

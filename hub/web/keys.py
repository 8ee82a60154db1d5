"""Typed application state shared by the routes."""

from __future__ import annotations

from weakref import WeakSet

from aiohttp import web

from hub.config import Config
from hub.metrics import Metrics
from hub.services import Hub

__all__ = ["CONFIG", "HUB", "METRICS", "REQUEST_ID", "SOCKETS"]

CONFIG = web.AppKey("config", Config)
HUB = web.AppKey("hub", Hub)
METRICS = web.AppKey("metrics", Metrics)
REQUEST_ID = web.RequestKey("request_id", str)
"""The id naming a request in its log lines (and in an `internal` error's answer)."""
SOCKETS = web.AppKey("sockets", WeakSet[web.WebSocketResponse])

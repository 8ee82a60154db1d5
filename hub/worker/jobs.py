"""The job sweeper of `hub worker`: jobs whose lease ran out go back to the queue (or
time out), as every `hub serve` process also does in-process (`Jobs.sweep`, once per
expiry whoever looks). A worker process sweeps too, so that a deployment whose web
processes are all down still takes back jobs from runners that died; its events reach
the sessions over the configured bus (Redis, for web processes to relay)."""

from __future__ import annotations

import asyncio
import logging

from hub.app import make_bus
from hub.config import Config
from hub.services.events import Events
from hub.services.jobs import Jobs
from hub.store import Store

__all__ = ["run_sweeper"]

log = logging.getLogger("hub.worker.jobs")


async def run_sweeper(config: Config, stop: asyncio.Event) -> None:
    """Sweep expired job leases every `HUB_JOB_SWEEP_INTERVAL` until `stop` is set."""
    assert config.database_url is not None
    store = await Store.open(config.database_url, size=2, wait_limit=config.db_timeout)
    bus = make_bus(config)
    try:
        await bus.start()
        jobs = Jobs(config, store, Events(bus))
        jobs.start()
        log.info("job sweeper started")
        try:
            await stop.wait()
        finally:
            await jobs.close()
    finally:
        await bus.close()
        await store.close()

"""Background work apart from requests: `hub worker` (and, in the embedded default,
`hub serve` itself) delivers webhooks (`hub.worker.webhooks`), over the SSRF-guarded
client of `hub.worker.egress`, and sweeps jobs whose lease ran out (`hub.worker.jobs`)."""

from __future__ import annotations

__all__: list[str] = []

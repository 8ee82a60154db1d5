"""The benchmark harness keeps working: every scenario on tiny parameters. (It measures
nothing here: figures come from `scripts/bench/run`, never from tests.)"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


async def run_scenario(
    database_url: str, out: Path, seconds: float, *args: str
) -> tuple[list[dict[str, object]], bytes]:
    """Runs `bench.py ARGS --json OUT` against the test database; its result rows and
    its output, once it exited 0 within `seconds`."""
    env = {**os.environ, "HUB_BENCH_DATABASE_URL": database_url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "scripts" / "bench" / "bench.py"),
        *args,
        "--json",
        str(out),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(seconds):
        output, _ = await proc.communicate()
    assert proc.returncode == 0, output.decode()
    return json.loads(await asyncio.to_thread(out.read_text))["results"], output


async def test_harness_runs_every_scenario(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """`bench.py` runs ceilings, relay (flat out, at half of that, and on two processes),
    fan-out, idle and resume and writes its JSON."""
    out = tmp_path / "bench.json"
    env = {**os.environ, "HUB_BENCH_DATABASE_URL": database_url, "HUB_BENCH_REDIS_URL": redis_url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "scripts" / "bench" / "bench.py"),
        "ceilings",
        "relay",
        "half",
        "scaleout",
        "fanout",
        "streams",
        "idle",
        "resume",
        "--redis",
        "--sessions",
        "2",
        "--observers",
        "1",
        "--messages",
        "20",
        "--half-seconds",
        "0.1",
        "--fanout-observers",
        "5",
        "--fanout-messages",
        "5",
        "--fanout-rate",
        "100",
        "--stream-observers",
        "3",
        "--stream-chunks",
        "40",
        "--idle",
        "20",
        "--behind",
        "30",
        "--ceiling-messages",
        "200",
        "--json",
        str(out),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(180):
        output, _ = await proc.communicate()
    assert proc.returncode == 0, output.decode()
    report = json.loads(out.read_text())
    rows = {r["scenario"]: r for r in report["results"]}
    assert rows["relay"]["persisted"] == 2 * 2 * 20
    assert rows["relay"]["deliveries"] == 2 * 20 * (2 + 1) * 2
    half = rows["relay at half of peak"]
    assert half["persisted"] >= 2 * 2 * 20
    assert half["deliveries"] == half["persisted"] * (2 + 1)
    two = rows["relay, 2 processes (Redis bus)"]  # each message crosses between them
    assert (two["persisted"], two["deliveries"]) == (2 * 2 * 20, 2 * 20 * (2 + 1) * 2)
    raw = rows["ceiling: aiohttp ws relay, no logic"]  # the same workload, relayed alike
    assert (raw["persisted"], raw["deliveries"]) == (2 * 2 * 20, 2 * 20 * (2 + 1) * 2)
    assert rows["fanout"]["deliveries"] == 5 * 5
    assert rows["resume"]["messages"] == 30
    assert rows["streams"]["chunk_deliveries"] == 3 * 40
    assert rows["idle"]["connections"] == 20
    assert rows["ceiling: aiohttp ws echo"]["messages_per_s"] > 0
    assert b"relay / aiohttp echo ceiling" in output
    assert b"relay / aiohttp relay ceiling" in output


async def test_streams_scenario_delivers_every_chunk(database_url: str, tmp_path: Path) -> None:
    """`bench.py streams` streams its chunks to every observer and reports the rates."""
    (row,), output = await run_scenario(
        database_url,
        tmp_path / "bench.json",
        120,
        "streams",
        "--stream-observers",
        "4",
        "--stream-chunks",
        "50",
        "--stream-rate",
        "500",
    )
    assert row["scenario"] == "streams" and row["chunk_deliveries"] == 4 * 50
    assert 0 < row["delta_events"] < 4 * 50  # coalesced
    assert row["latency_ms"]["p50"] > 0 and b"delta events/s delivered" in output


async def test_jobs_scenario_runs_every_job(database_url: str, tmp_path: Path) -> None:
    """`bench.py jobs` queues its jobs, runs them with its runners, and reports the rate."""
    (row,), output = await run_scenario(
        database_url,
        tmp_path / "bench.json",
        120,
        "jobs",
        "--jobs",
        "30",
        "--job-runners",
        "2",
    )
    assert (row["scenario"], row["jobs"], row["runners"]) == ("jobs", 30, 2)
    assert row["jobs_per_s"] > 0 and b"jobs/s claimed, reported and settled" in output


def test_settle_wal_writes_wal_then_checkpoints(database_url: str) -> None:
    """`settle_wal` leaves PostgreSQL as a running server would be: WAL written (whose
    segments the checkpoint frees for reuse) and a checkpoint after it."""
    import asyncpg

    sys.path.insert(0, str(ROOT / "scripts" / "bench"))
    from bench import settle_wal

    async def positions() -> tuple[int, int]:
        conn = await asyncpg.connect(database_url)
        try:
            row = await conn.fetchrow(
                "SELECT pg_current_wal_lsn() - '0/0' AS wal,"
                " (SELECT redo_lsn FROM pg_control_checkpoint()) - '0/0' AS redo"
            )
            return int(row["wal"]), int(row["redo"])
        finally:
            await conn.close()

    wal, _ = asyncio.run(positions())
    settle_wal(database_url, megabytes=64)
    wal_after, redo_after = asyncio.run(positions())
    assert wal_after - wal > 48 << 20  # 4 switches of 16 MB segments, the first partial
    assert redo_after > wal + (48 << 20)  # the checkpoint came after them


async def test_the_webhooks_scenario_delivers_every_event(
    database_url: str, tmp_path: Path
) -> None:
    """`bench.py webhooks` seeds sessions with an endpoint each, starts a `hub worker`
    and times every event to its local receiver."""
    (row,), output = await run_scenario(
        database_url,
        tmp_path / "bench.json",
        180,
        "webhooks",
        "--webhook-sessions",
        "2",
        "--webhook-messages",
        "5",
    )
    assert row["scenario"] == "webhooks" and row["events"] == 10
    assert row["requests"] >= 10 and row["events_per_s"] > 0
    assert b"events/s delivered by one worker" in output


async def test_the_webhooks_slow_scenario_delivers_every_event_in_each_phase(
    database_url: str, tmp_path: Path
) -> None:
    """`bench.py webhooks-slow` runs its three phases with several `hub worker`
    processes: the fast endpoint gets every event in each, the slow one too (it has
    time enough here), and no phase's requests count in another's."""
    (row,), output = await run_scenario(
        database_url,
        tmp_path / "bench.json",
        240,
        "webhooks-slow",
        "--webhook-slow-sessions",
        "3",
        "--webhook-slow-messages",
        "4",
        "--webhook-workers",
        "2",
        "--webhook-slow-ms",
        "10",
    )
    assert (row["scenario"], row["workers"], row["events"]) == ("webhooks-slow", 2, 12)
    phases = row["phases"]
    assert list(phases) == [
        "alone",
        "beside a slow one",
        "beside a slow one, no per-endpoint cap",
    ]
    for phase in phases.values():
        assert phase["fast"]["events"] == 12 and phase["fast"]["events_per_s"] > 0
    for name in list(phases)[1:]:
        slow = phases[name]["slow"]
        assert slow["finished"] and slow["events"] == 12
        assert 1 <= slow["most_open_at_once"] <= 3  # one stream per session
    assert b"alone: fast endpoint" in output

"""Jobs over real HTTP and PostgreSQL: a job's whole life with its reservation settled
and its events live; who may create, cancel, claim and report; no overdraft under
concurrent reservations, the ledger equal to the balance; leases that run out put a job
back exactly once, and after its last attempt it times out with its credits released."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from hub.errors import HubError
from hub.web.keys import HUB
from tests.compute_helpers import (
    call_ok,
    claim,
    create_job,
    grant,
    ledger_matches,
    report,
    runner_key,
    setup,
)
from tests.helpers import HubClient
from tests.web.test_profiles import person
from tests.web.test_spaces import new_space


@pytest.fixture
async def db(database_url: str) -> Any:
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


async def test_a_job_runs_from_queue_to_success_with_its_cost_settled_and_events_live(
    client: HubClient, db: asyncpg.Connection
) -> None:
    """A job reserves its estimate, a runner claims it, reports progress, log lines and
    success with a smaller cost: the rest is released; an observer sees every change."""
    s = await setup(client, credits=100)
    watcher = await client.connect(s.session["obs"])
    status, job = await create_job(client, s, input={"text": "hi"}, estimated_cost=40)
    assert status == 201, job
    assert (job["status"], job["cost_reserved"], job["attempts"]) == ("queued", 40, 0)
    assert (await watcher.next("job"))["job"]["status"] == "queued"
    assert await ledger_matches(db, s.pool) == {"balance": 60, "reserved": 40, "spent": 0}

    key = s.runners["main"]
    claimed = await claim(client, key)
    assert claimed["job"]["id"] == job["id"] and claimed["attempt"] == 1
    assert claimed["job"]["input"] == {"text": "hi"}
    assert (await watcher.next("job"))["job"]["status"] == "running"
    assert await claim(client, key) is None

    status, moved = await report(client, key, job["id"], "progress", attempt=1, progress=50)
    assert status == 200 and moved["progress"] == 50
    assert (await watcher.next("job"))["job"]["progress"] == 50
    lines = [{"text": "step one"}, {"text": "careful", "level": "warning"}]
    status, logged = await report(client, key, job["id"], "log", attempt=1, entries=lines)
    assert status == 200 and logged["log_count"] == 2
    event = await watcher.next("job_log")
    assert [(e["seq"], e["level"], e["text"]) for e in event["entries"]] == [
        (1, "info", "step one"),
        (2, "warning", "careful"),
    ]
    status, done = await report(
        client, key, job["id"], "result", attempt=1, status="succeeded", output={"n": 1}, cost=25
    )
    assert status == 200, done
    assert (done["status"], done["cost_charged"], done["progress"]) == ("succeeded", 25, 100)
    assert (await watcher.next("job"))["job"]["status"] == "succeeded"
    assert await ledger_matches(db, s.pool) == {"balance": 75, "reserved": 0, "spent": 25}

    path = f"/api/sessions/{s.session['id']}/jobs/{job['id']}"
    read = await call_ok(client, "GET", path, token=s.session["obs"])
    assert read["output"] == {"n": 1}
    log = await call_ok(client, "GET", path + "/log", token=s.session["b"], params={"after": 1})
    assert [e["text"] for e in log["entries"]] == ["careful"]
    listed = await call_ok(
        client, "GET", f"/api/sessions/{s.session['id']}/jobs", token=s.session["obs"]
    )
    assert [j["id"] for j in listed["jobs"]] == [job["id"]]
    ledger = await call_ok(client, "GET", f"/api/pools/{s.pool}/ledger", token=s.user)
    assert [e["kind"] for e in ledger["entries"]] == ["release", "settle", "reserve", "grant"]
    assert [e["amount"] for e in ledger["entries"]] == [15, 0, -40, 100]
    actions = await db.fetch(
        "SELECT action FROM activity WHERE session_id = $1 AND action LIKE 'job.%' ORDER BY id",
        s.session["id"],
    )
    assert [r["action"] for r in actions] == ["job.created", "job.claimed", "job.succeeded"]


async def test_observers_cannot_create_or_cancel_jobs_and_agent_b_can(
    client: HubClient, db: asyncpg.Connection
) -> None:
    """An observer's job is refused 403 and reserves nothing; agent B creates one and
    cancels it: everything reserved is released."""
    s = await setup(client, credits=50)
    status, answer = await create_job(client, s, token=s.session["obs"], estimated_cost=10)
    assert (status, answer["code"]) == (403, "forbidden"), answer
    status, job = await create_job(client, s, token=s.session["b"], estimated_cost=10)
    assert status == 201 and job["requested_role"] == "agent_b"
    cancel = f"/api/sessions/{s.session['id']}/jobs/{job['id']}/cancel"
    status, answer = await client.call("POST", cancel, token=s.session["obs"])
    assert (status, answer["code"]) == (403, "forbidden")
    cancelled = await call_ok(client, "POST", cancel, token=s.session["b"])
    assert (cancelled["status"], cancelled["cost_charged"]) == ("cancelled", 0)
    status, answer = await client.call("POST", cancel, token=s.session["a"])
    assert (status, answer["code"]) == (409, "invalid_transition")
    assert await ledger_matches(db, s.pool) == {"balance": 50, "reserved": 0, "spent": 0}
    assert await claim(client, s.runners["main"]) is None


async def test_a_job_the_pool_cannot_afford_is_refused_and_nothing_is_written(
    client: HubClient, db: asyncpg.Connection
) -> None:
    """Past the balance: 402 insufficient_credits, no job, no ledger row; a session with
    no pool: bad_request; a huge estimate is refused by validation."""
    s = await setup(client, credits=30)
    status, answer = await create_job(client, s, estimated_cost=31)
    assert (status, answer["code"]) == (402, "insufficient_credits")
    assert await db.fetchval("SELECT count(*) FROM compute_jobs WHERE pool_id = $1", s.pool) == 0
    status, _ = await create_job(client, s, estimated_cost=30)
    assert status == 201
    status, answer = await create_job(client, s, estimated_cost=1)
    assert (status, answer["code"]) == (402, "insufficient_credits")
    status, answer = await create_job(client, s, estimated_cost=-1)
    assert (status, answer["code"]) == (400, "bad_request")
    status, answer = await create_job(client, s, input={"x": "y" * 20_000})
    assert (status, answer["code"]) == (400, "bad_request")
    assert await ledger_matches(db, s.pool) == {"balance": 0, "reserved": 30, "spent": 0}
    bare = await client.session_with_b()
    status, answer = await client.call(
        "POST", f"/api/sessions/{bare['id']}/jobs", token=bare["a"], json={"kind": "echo"}
    )
    assert (status, answer["code"]) == (400, "bad_request")


async def test_concurrent_reservations_never_overdraw_and_the_ledger_equals_the_balance(
    client: HubClient, db: asyncpg.Connection
) -> None:
    """60 concurrent jobs of 5 credits against 87: exactly 17 are queued, the rest get
    insufficient_credits; the balance is 2 and equals the ledger's sum."""
    s = await setup(client, credits=87)
    answers = await asyncio.gather(*(create_job(client, s, estimated_cost=5) for _ in range(60)))
    codes = sorted(status for status, _ in answers)
    assert codes == [201] * 17 + [402] * 43
    assert await ledger_matches(db, s.pool) == {"balance": 2, "reserved": 85, "spent": 0}


async def test_the_session_pool_is_set_by_agent_a_to_a_pool_its_owner_may_draw_on(
    client: HubClient,
) -> None:
    """Agent B may not set the pool; a stranger's pool is refused; participants read
    the pool and its balance; only its owner reads or tops up the pool itself."""
    s = await setup(client, credits=10)
    path = f"/api/sessions/{s.session['id']}/pool"
    status, answer = await client.call("PUT", path, token=s.session["b"], json={"pool_id": s.pool})
    assert (status, answer["code"]) == (403, "forbidden")
    stranger = await person(client)
    theirs = await call_ok(client, "POST", "/api/pools", 201, token=stranger, json={"name": "x"})
    status, answer = await client.call(
        "PUT", path, token=s.session["a"], json={"pool_id": theirs["id"]}
    )
    assert (status, answer["code"]) == (403, "forbidden")
    read = await call_ok(client, "GET", path, token=s.session["obs"])
    assert (read["pool"]["id"], read["pool"]["balance"]) == (s.pool, 10)
    status, answer = await client.call("GET", f"/api/pools/{s.pool}", token=stranger)
    assert (status, answer["code"]) == (404, "not_found")
    status, answer = await client.call(
        "POST", f"/api/pools/{s.pool}/grants", token=stranger, json={"amount": 5}
    )
    assert (status, answer["code"]) == (404, "not_found")
    mine = await call_ok(client, "GET", "/api/pools", token=s.user)
    assert [p["id"] for p in mine["pools"]] == [s.pool]


async def test_runners_claim_only_their_kinds_and_their_owners_jobs(client: HubClient) -> None:
    """A runner asking for a kind its key does not name is refused; it never gets a job
    of another kind, nor of a pool its owner does not own; a revoked key is refused."""
    s = await setup(client, credits=100, kinds=("echo",))
    other = await runner_key(client, s.user, ["build"])
    stranger = await person(client)
    strangers = await runner_key(client, stranger, ["echo"])
    status, _ = await create_job(client, s, estimated_cost=1)
    assert status == 201
    status, answer = await client.call(
        "POST", "/api/runner/claim", token=other, json={"kinds": ["echo"]}
    )
    assert (status, answer["code"]) == (403, "forbidden")
    assert await claim(client, other) is None
    assert await claim(client, strangers) is None
    keys = await call_ok(client, "GET", "/api/runner-keys", token=s.user)
    main = next(k for k in keys["keys"] if k["kinds"] == ["echo"])
    revoked = await call_ok(client, "DELETE", f"/api/runner-keys/{main['id']}", token=s.user)
    assert revoked["revoked_at"] is not None
    status, answer = await client.call(
        "POST", "/api/runner/claim", token=s.runners["main"], json={}
    )
    assert (status, answer["code"]) == (401, "unauthorized")
    status, answer = await client.call("DELETE", f"/api/runner-keys/{main['id']}", token=stranger)
    assert (status, answer["code"]) == (404, "not_found")


async def test_a_runner_cannot_report_on_a_job_it_does_not_hold(
    client: HubClient, db: asyncpg.Connection
) -> None:
    """Another key, another attempt, a cancelled job: every report is 409 lease_lost and
    changes nothing."""
    s = await setup(client, credits=100)
    key, second = s.runners["main"], await runner_key(client, s.user, ["echo"])
    status, job = await create_job(client, s, estimated_cost=10)
    claimed = await claim(client, key)
    assert claimed["job"]["id"] == job["id"]
    for token, attempt in ((second, 1), (key, 2)):
        for what, body in (
            ("heartbeat", {}),
            ("progress", {"progress": 5}),
            ("log", {"entries": [{"text": "x"}]}),
            ("result", {"status": "succeeded"}),
        ):
            status, answer = await report(client, token, job["id"], what, attempt=attempt, **body)
            assert (status, answer["code"]) == (409, "lease_lost"), (what, answer)
    await call_ok(
        client,
        "POST",
        f"/api/sessions/{s.session['id']}/jobs/{job['id']}/cancel",
        token=s.session["a"],
    )
    status, answer = await report(client, key, job["id"], "result", attempt=1, status="succeeded")
    assert (status, answer["code"]) == (409, "lease_lost")
    assert await db.fetchval("SELECT log_count FROM compute_jobs WHERE id = $1", job["id"]) == 0
    assert await ledger_matches(db, s.pool) == {"balance": 100, "reserved": 0, "spent": 0}


async def _expire(db: asyncpg.Connection, job_ids: list[str]) -> None:
    """Move the jobs' leases into the past (as if their runners stopped answering)."""
    await db.execute(
        "UPDATE compute_jobs SET lease_until = now() - interval '1 second'"
        " WHERE id = ANY($1::text[])",
        job_ids,
    )


async def test_a_lease_that_runs_out_puts_the_job_back_exactly_once(
    make_client: Any, db: asyncpg.Connection
) -> None:
    """Eight concurrent sweepers, while runners claim: each expiry is handled once (one
    `job.requeued` row per job), the job is claimed again as attempt 2; after its last
    attempt it times out, charged what was reported used, the rest released."""
    hub = await make_client(job_sweep_interval=3600.0)
    jobs_service = hub.server.app[HUB].jobs
    s = await setup(hub, credits=1000)
    key = s.runners["main"]
    made = [await create_job(hub, s, estimated_cost=10, max_attempts=2) for _ in range(5)]
    ids = sorted(job["id"] for _, job in made)
    first = [await claim(hub, key) for _ in ids]
    await report(hub, key, first[0]["job"]["id"], "progress", attempt=1, progress=1, used=4)
    await _expire(db, ids)

    swept = await asyncio.gather(*(jobs_service.sweep() for _ in range(8)))
    assert sum(swept) == 5
    requeued = await db.fetch(
        "SELECT detail->>'job_id' AS id FROM activity"
        " WHERE session_id = $1 AND action = 'job.requeued'",
        s.session["id"],
    )
    assert sorted(r["id"] for r in requeued) == ids
    again = await asyncio.gather(*(claim(hub, key) for _ in range(8)))
    taken = [c for c in again if c is not None]
    assert sorted(c["job"]["id"] for c in taken) == ids
    assert {c["attempt"] for c in taken} == {2}

    await _expire(db, ids)
    swept = await asyncio.gather(*(jobs_service.sweep() for _ in range(8)))
    assert sum(swept) == 5
    rows = await db.fetch(
        "SELECT id, status, cost_charged FROM compute_jobs WHERE id = ANY($1::text[])", ids
    )
    assert {r["status"] for r in rows} == {"timed_out"}
    assert sum(r["cost_charged"] for r in rows) == 4
    assert await ledger_matches(db, s.pool) == {"balance": 996, "reserved": 0, "spent": 4}
    assert await claim(hub, key) is None


async def test_the_sweeper_of_a_hub_process_takes_back_a_job_whose_runner_went_quiet(
    make_client: Any, db: asyncpg.Connection
) -> None:
    """With a short lease and the in-process sweeper, a claimed job nobody heartbeats is
    queued again (a live `job` event) and another runner completes it."""
    hub = await make_client(job_lease_seconds=0.3, job_sweep_interval=0.1)
    s = await setup(hub, credits=20)
    watcher = await hub.connect(s.session["obs"])
    status, job = await create_job(hub, s, estimated_cost=20)
    first = await claim(hub, s.runners["main"])
    assert first["attempt"] == 1

    def requeued() -> bool:
        return any(
            f["type"] == "job" and f["job"]["status"] == "queued" and f["job"]["attempts"] == 1
            for f in watcher.frames
        )

    await watcher.wait(requeued)
    other = await runner_key(hub, s.user, ["echo"], name="other")
    second = await claim(hub, other)
    assert (second["job"]["id"], second["attempt"]) == (job["id"], 2)
    status, done = await report(hub, other, job["id"], "result", attempt=2, status="succeeded")
    assert (status, done["status"], done["cost_charged"]) == (200, "succeeded", 20)
    await ledger_matches(db, s.pool)


async def test_grants_are_audited_and_refused_to_non_owners_of_a_space_pool(
    client: HubClient,
) -> None:
    """A space's owner creates and tops up its pool; its plain member reads it but may
    not top it up (403)."""
    owner = await person(client)
    member = await person(client)
    slug = f"lab{id(owner) % 100000}"
    await call_ok(client, "POST", "/api/spaces", 201, token=owner, json={"slug": slug, "name": "L"})
    me = await call_ok(client, "GET", "/api/me", token=member)
    await call_ok(
        client,
        "PUT",
        f"/api/spaces/{slug}/members/{me['username']}",
        201,
        token=owner,
        json={"role": "member"},
    )
    pool = await call_ok(
        client, "POST", "/api/pools", 201, token=owner, json={"name": "shared", "space": slug}
    )
    assert (pool["owner_kind"], pool["owner"]) == ("space", slug)
    await grant(client, owner, pool["id"], 9)
    seen = await call_ok(client, "GET", f"/api/pools/{pool['id']}", token=member)
    assert seen["balance"] == 9
    status, answer = await client.call(
        "POST", f"/api/pools/{pool['id']}/grants", token=member, json={"amount": 1}
    )
    assert (status, answer["code"]) == (403, "forbidden")


async def test_a_create_retried_with_its_client_job_id_makes_one_job_and_reserves_once(
    client: HubClient, db: asyncpg.Connection
) -> None:
    """Ten concurrent creates with one client_job_id: one 201, nine 200 with the same job,
    one reservation; another requester's same id is another job."""
    s = await setup(client, credits=100)
    answers = await asyncio.gather(
        *(create_job(client, s, estimated_cost=10, client_job_id="fold-1") for _ in range(10))
    )
    assert sorted(status for status, _ in answers) == [200] * 9 + [201]
    assert len({job["id"] for _, job in answers}) == 1
    status, other = await create_job(
        client, s, token=s.session["b"], estimated_cost=10, client_job_id="fold-1"
    )
    assert status == 201 and other["id"] != answers[0][1]["id"]
    assert await ledger_matches(db, s.pool) == {"balance": 80, "reserved": 20, "spent": 0}


async def test_the_owner_refunds_at_most_what_a_finished_job_was_charged(
    client: HubClient, db: asyncpg.Connection
) -> None:
    """A refund gives credits back (a refund ledger row; the session sees the job's
    cost_refunded); a running job, a refund past the charge and a stranger are refused."""
    s = await setup(client, credits=50)
    watcher = await client.connect(s.session["obs"])
    status, job = await create_job(client, s, estimated_cost=30)
    claimed = await claim(client, s.runners["main"])
    path = f"/api/pools/{s.pool}/refunds"
    status, answer = await client.call(
        "POST", path, token=s.user, json={"job_id": job["id"], "amount": 1}
    )
    assert (status, answer["code"]) == (409, "conflict")
    await report(client, s.runners["main"], job["id"], "result", attempt=claimed["attempt"],
                 status="succeeded", cost=20)  # fmt: skip
    refunded = await call_ok(
        client, "POST", path, token=s.user, json={"job_id": job["id"], "amount": 15}
    )
    assert (refunded["balance"], refunded["spent"]) == (45, 5)

    def seen() -> bool:
        return any(f["type"] == "job" and f["job"]["cost_refunded"] == 15 for f in watcher.frames)

    await watcher.wait(seen)
    status, answer = await client.call(
        "POST", path, token=s.user, json={"job_id": job["id"], "amount": 6}
    )
    assert (status, answer["code"]) == (409, "conflict")
    stranger = await person(client)
    status, answer = await client.call(
        "POST", path, token=stranger, json={"job_id": job["id"], "amount": 1}
    )
    assert (status, answer["code"]) == (404, "not_found")
    assert await ledger_matches(db, s.pool) == {"balance": 45, "reserved": 0, "spent": 5}


async def test_a_runner_claims_the_oldest_queued_job_of_its_kinds_first(client: HubClient) -> None:
    """Jobs of two kinds queued in turn: a runner for both takes them oldest first; one
    for a single kind steps over the other kind's older jobs."""
    s = await setup(client, credits=100, kinds=("echo", "build"))
    made = []
    for kind in ("build", "echo", "build", "echo"):
        status, job = await create_job(client, s, kind=kind, estimated_cost=1)
        assert status == 201, job
        made.append(job["id"])
    echo_only = await runner_key(client, s.user, ["echo"])
    assert (await claim(client, echo_only))["job"]["id"] == made[1]
    both = s.runners["main"]
    taken = [(await claim(client, both))["job"]["id"] for _ in range(3)]
    assert taken == [made[0], made[2], made[3]]
    assert await claim(client, both) is None


async def test_a_space_pool_serves_its_sessions_and_a_space_runner_runs_them(
    client: HubClient, db: asyncpg.Connection
) -> None:
    """A session moved into a space draws on the space's pool; the space's runner key
    claims its jobs, a person's runner key of the same owner does not; a grant past
    10^18 credits is refused."""
    s = await setup(client, credits=0)
    space = await new_space(client, s.user)
    sid = s.session["id"]
    await call_ok(
        client, "PUT", f"/api/sessions/{sid}/space", token=s.user, json={"space": space["slug"]}
    )
    body = {"name": "shared", "space": space["slug"]}
    pool = await call_ok(client, "POST", "/api/pools", 201, token=s.user, json=body)
    await grant(client, s.user, pool["id"], 10)
    await call_ok(
        client,
        "PUT",
        f"/api/sessions/{sid}/pool",
        token=s.session["a"],
        json={"pool_id": pool["id"]},
    )
    status, job = await create_job(client, s, estimated_cost=4)
    assert status == 201 and job["pool_id"] == pool["id"]
    assert await claim(client, s.runners["main"]) is None  # the person's key: their pools
    body = {"name": "space", "kinds": ["echo"], "space": space["slug"]}
    made = await call_ok(client, "POST", "/api/runner-keys", 201, token=s.user, json=body)
    assert (made["key"]["owner_kind"], made["key"]["owner"]) == ("space", space["slug"])
    claimed = await claim(client, made["token"])
    assert claimed["job"]["id"] == job["id"]
    status, answer = await client.call(
        "POST", f"/api/pools/{pool['id']}/grants", token=s.user, json={"amount": 10**15}
    )
    assert status == 200, answer
    await db.execute(  # as if granted that much (the ledger no longer says so)
        "UPDATE compute_pools SET balance = $2::bigint - 50 - reserved WHERE id = $1",
        pool["id"],
        10**18,
    )
    status, answer = await client.call(
        "POST", f"/api/pools/{pool['id']}/grants", token=s.user, json={"amount": 100}
    )
    assert (status, answer["code"]) == (400, "bad_request")


async def test_deleting_a_session_cancels_its_open_jobs_and_releases_their_credits(
    client: HubClient, db: asyncpg.Connection
) -> None:
    """A queued and a running job (which reported 3 used) of a deleted session end
    cancelled: 3 charged, the rest released; the runner then holds nothing."""
    s = await setup(client, credits=50)
    _, running = await create_job(client, s, estimated_cost=10)
    _, queued = await create_job(client, s, estimated_cost=20)
    key = s.runners["main"]
    claimed = await claim(client, key)
    assert claimed["job"]["id"] == running["id"]
    await report(client, key, running["id"], "progress", attempt=1, progress=5, used=3)
    await call_ok(client, "DELETE", f"/api/sessions/{s.session['id']}", 204, token=s.session["a"])
    rows = await db.fetch(
        "SELECT id, status, cost_charged FROM compute_jobs WHERE session_id = $1 ORDER BY id",
        s.session["id"],
    )
    assert {r["id"]: (r["status"], r["cost_charged"]) for r in rows} == {
        running["id"]: ("cancelled", 3),
        queued["id"]: ("cancelled", 0),
    }
    status, answer = await report(client, key, running["id"], "heartbeat", attempt=1)
    assert (status, answer["code"]) == (409, "lease_lost")
    assert await claim(client, key) is None
    assert await ledger_matches(db, s.pool) == {"balance": 47, "reserved": 0, "spent": 3}


async def test_an_upload_whose_lease_is_lost_while_its_bytes_arrive_is_not_stored(
    make_client: Any, db: asyncpg.Connection
) -> None:
    """A runner's upload passes the lease check when it starts; the job is cancelled
    while its bytes are still arriving: the transaction that would store it checks
    again and refuses `lease_lost`, and the session holds no attachment."""
    client = await make_client()
    s = await setup(client, credits=10)
    key = s.runners["main"]
    _, job = await create_job(client, s)
    claimed = await claim(client, key)
    assert claimed["job"]["id"] == job["id"]
    hub = client.server.app[HUB]
    runner = await hub.runners.authenticate(key)
    who, guard = await hub.runners.uploader(runner, job["id"], 1)
    halfway, go_on = asyncio.Event(), asyncio.Event()

    async def body() -> Any:
        yield b"first half, "
        halfway.set()
        await go_on.wait()
        yield b"second half"

    upload = asyncio.create_task(
        hub.attachments.upload(who, body(), name="out.txt", content_type="text/plain", guard=guard)
    )
    async with asyncio.timeout(10):
        await halfway.wait()
    status, _ = await client.call(
        "POST", f"/api/sessions/{s.session['id']}/jobs/{job['id']}/cancel", token=s.session["a"]
    )
    assert status == 200
    go_on.set()
    with pytest.raises(HubError) as refused:
        await asyncio.wait_for(upload, 10)
    assert refused.value.code == "lease_lost"
    stored = "SELECT count(*) FROM attachments WHERE session_id = $1"
    assert await db.fetchval(stored, s.session["id"]) == 0

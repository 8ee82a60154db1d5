"""`hub pipeline run|list|show|cancel` as real subprocesses against a real hub: an
agent runs a pipeline artifact with per-node costs, lists and reads the run (its nodes'
states and its log), and cancels it; a run the pool cannot pay for fails with
insufficient_credits."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from hub.client import HubAPI
from tests.cli_helpers import (
    account,
    agent_with_key,
    base_url,
    field,
    hub,
    one_bus,
    quiet_env,  # noqa: F401 (autouse: a clean environment for each test)
    unique,
)


@one_bus
@pytest.mark.timeout(120)
async def test_run_list_show_and_cancel_a_pipeline_from_the_terminal(
    hub_server: TestServer, tmp_path: Path
) -> None:
    """A run reserves its nodes' costs (given per node and by default), shows its nodes
    pending behind the queued root, is the same run when run again with its
    --client-run-id (nothing more reserved), reads back with its log, and is cancelled."""
    url = base_url(hub_server)
    _, user = await account(url)
    agent_file = await agent_with_key(url, user, unique("bot-"), tmp_path)
    async with HubAPI(url) as rest:
        created = await rest.create_session(agent_key=agent_file.read_text().strip())
        sid, a = created.session.id, created.agent_token
        pool = await rest.create_pool(user, "lab")
        await rest.grant(user, pool.id, 100)
        await rest.set_session_pool(sid, a, pool.id)
        data = {
            "kind": "pipeline",
            "nodes": [{"id": "prep", "type": "prep"}, {"id": "fold", "type": "fold"}],
            "edges": [{"source": "prep", "target": "fold"}],
        }
        art = await rest.create_artifact(
            sid, a, title="Binder", data=data, message={"client_msg_id": "m1", "content": "p"}
        )
    as_a = {"HUB_TOKEN": a}
    session = ["--session", sid, "--url", url]

    start = ("pipeline", "run", str(art.id), "--cost", "fold=30", "--default-cost", "5",
             "--client-run-id", "binder-1", *session)  # fmt: skip
    code, out, err = await hub(*start, env=as_a)
    assert code == 0, err
    run_id = field(out, "run")
    assert field(out, "status") == "running" and field(out, "reserved") == "35"
    assert "prep" in out and "queued" in out and "pending" in out
    code, out, err = await hub(*start, env=as_a)  # a retry: the same run, nothing reserved
    assert code == 0 and field(out, "run") == run_id, err
    async with HubAPI(url) as rest:
        assert (await rest.pool(user, pool.id)).balance == 65
    code, out, err = await hub(
        "pipeline", "run", str(art.id), "--default-cost", "60", *session, env=as_a
    )
    assert code == 1 and "insufficient_credits" in err
    code, out, err = await hub("pipeline", "list", *session, env=as_a)
    assert code == 0 and run_id in out and "0/2" in out, err
    code, out, err = await hub("pipeline", "show", run_id, *session, env=as_a)
    assert code == 0 and "(run)" in out and "cost_reserved" in out, err
    code, out, err = await hub("pipeline", "cancel", run_id, *session, env=as_a)
    assert code == 0 and field(out, "status") == "cancelled", err
    assert "skipped" in out
    code, out, err = await hub("pipeline", "cancel", run_id, *session, env=as_a)
    assert code == 1 and "invalid_transition" in err

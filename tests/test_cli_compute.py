"""`hub pool`, `hub job` and `hub runner` as real subprocesses against a real hub: a pool
created, topped up and used by a session; a runner key; a job queued and run by
`hub runner run` (a shell command per job: input on stdin, lines as log, progress, exit
code as the outcome); the ledger and the log read back; Ctrl-C stops the runner."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from hub.client import HubAPI, connect
from hub.commands import printable
from hub.protocol import JobEvent
from tests.cli_helpers import (
    TIMEOUT,
    account,
    agent_with_key,
    base_url,
    field,
    hub,
    one_bus,
    quiet_env,  # noqa: F401 (autouse: a clean environment for each test)
    unique,
)
from tests.compute_helpers import setup
from tests.helpers import HubClient

SCRIPT = (
    'input=$(cat); echo "got $input"; echo "::progress 50 half way"; echo oops >&2;'
    ' if [ "$HUB_JOB_INPUT" = \'{"fail": true}\' ]; then exit 3; fi; echo \'{"ok": true}\''
)


@one_bus
@pytest.mark.timeout(180)
async def test_pools_jobs_and_a_shell_runner_from_the_terminal(
    hub_server: TestServer, tmp_path: Path
) -> None:
    """A person makes a pool, tops it up and lets a session use it; an agent queues two
    jobs; `hub runner run` runs the shell command for each: one succeeds with the JSON
    it printed, one fails on its exit code; the log, the job and the ledger read back."""
    url = base_url(hub_server)
    _, user = await account(url)
    as_user = {"HUB_USER_KEY": user}
    agent_file = await agent_with_key(url, user, unique("bot-"), tmp_path)
    async with HubAPI(url) as rest:
        created = await rest.create_session(agent_key=agent_file.read_text().strip())
    sid, a = created.session.id, created.agent_token
    as_a = {"HUB_TOKEN": a}

    code, out, err = await hub("pool", "create", "lab", "--url", url, env=as_user)
    assert code == 0, err
    pool = field(out, "pool")
    code, out, err = await hub("pool", "top-up", pool, "100", "--url", url, env=as_user)
    assert code == 0 and field(out, "balance") == "100", err
    code, out, err = await hub("pool", "use", pool, "--session", sid, "--url", url, env=as_a)
    assert code == 0 and pool in out, err
    code, out, err = await hub(
        "runner", "key", "create", "shell", "--kind", "echo", "--url", url, env=as_user
    )
    assert code == 0, err
    runner_key = out.split("runner key (shown once): ")[1].split()[0]
    code, out, err = await hub("runner", "key", "list", "--url", url, env=as_user)
    assert code == 0 and "shell" in out and "live" in out, err

    made = []
    for given in ('{"text": "hi"}', '{"fail": true}'):
        code, out, err = await hub(
            "job", "create", "--session", sid, "--kind", "echo", "--input", given,
            "--cost", "10", "--url", url, env=as_a,
        )  # fmt: skip
        assert code == 0, err
        made.append(field(out, "job"))
    code, out, err = await hub(
        "job", "create", "--session", sid, "--kind", "echo", "--cost", "1000", "--url", url,
        env=as_a,
    )  # fmt: skip
    assert code == 1 and "insufficient_credits" in err

    async with connect(url, created.observer_token) as watcher:
        runner = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hub.cli", "runner", "run", "--kind", "echo", "--url", url,
            "--", "sh", "-c", SCRIPT,
            env={**os.environ, "HUB_RUNNER_KEY": runner_key},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            ended: dict[str, JobEvent] = {}
            async with asyncio.timeout(TIMEOUT):
                async for event in watcher:
                    if isinstance(event, JobEvent) and event.job.finished_at is not None:
                        ended[event.job.id] = event
                        if len(ended) == 2:
                            break
            runner.send_signal(signal.SIGINT)
            async with asyncio.timeout(TIMEOUT):
                stdout, stderr = await runner.communicate()
        finally:
            if runner.returncode is None:
                runner.kill()
                await runner.wait()
    assert runner.returncode == 0, stderr.decode()
    assert "runner stopped after 2 job(s)" in stdout.decode()
    good, bad = ended[made[0]].job, ended[made[1]].job
    assert (good.status, good.output, good.progress) == ("succeeded", {"ok": True}, 100)
    assert (bad.status, bad.error) == ("failed", "exit code 3")

    code, out, err = await hub("job", "show", made[0], "--session", sid, "--url", url, env=as_a)
    assert code == 0 and field(out, "status") == "succeeded", err
    code, out, err = await hub("job", "log", made[0], "--session", sid, "--url", url, env=as_a)
    assert code == 0, err
    assert 'got {"text": "hi"}' in out and "warning oops" in " ".join(out.split())
    code, out, err = await hub("job", "list", "--session", sid, "--url", url, env=as_a)
    assert code == 0 and made[0] in out and "failed" in out, err
    code, out, err = await hub("pool", "ledger", pool, "--url", url, env=as_user)
    assert code == 0, err
    kinds = [line.split()[3] for line in out.splitlines()[1:]]
    assert sorted(kinds) == sorted(["grant", "reserve", "reserve", "settle", "release"])
    code, out, err = await hub("pool", "show", pool, "--url", url, env=as_user)
    assert (field(out, "balance"), field(out, "spent")) == ("90", "10")
    code, out, err = await hub("pool", "refund", pool, made[0], "4", "--url", url, env=as_user)
    assert code == 0 and (field(out, "balance"), field(out, "spent")) == ("94", "6"), err
    code, out, err = await hub("pool", "refund", pool, made[0], "7", "--url", url, env=as_user)
    assert code == 1 and "conflict" in err
    assert json.loads(json.dumps(good.output)) == {"ok": True}


@one_bus
@pytest.mark.timeout(120)
async def test_a_cancelled_job_stops_the_shell_command_running_it(
    make_client: Any, tmp_path: Path
) -> None:
    """`hub runner run` holds a job whose command sleeps; an agent cancels the job: at
    its next heartbeat the runner terminates the command's process group and says so,
    and Ctrl-C then stops the runner with nothing reported."""
    served = await make_client(job_lease_seconds=1.5)
    url = served.base
    _, user = await account(url)
    agent_file = await agent_with_key(url, user, unique("bot-"), tmp_path)
    pid_file = tmp_path / "pid"
    async with HubAPI(url) as rest:
        created = await rest.create_session(agent_key=agent_file.read_text().strip())
        sid, a = created.session.id, created.agent_token
        pool = await rest.create_pool(user, "lab")
        await rest.grant(user, pool.id, 10)
        await rest.set_session_pool(sid, a, pool.id)
        key = (await rest.create_runner_key(user, "shell", ["sleep"])).token
        job = await rest.create_job(sid, a, "sleep", estimated_cost=5)
        script = f'echo "::progress 10 sleeping"; echo $$ > {pid_file}; exec sleep 60'
        runner = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hub.cli", "runner", "run", "--url", url, "--", "sh", "-c",
            script, env={**os.environ, "HUB_RUNNER_KEY": key},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert runner.stdout is not None
        try:
            async with connect(url, created.observer_token) as watcher:
                async with asyncio.timeout(TIMEOUT):
                    async for event in watcher:
                        if isinstance(event, JobEvent) and event.job.progress == 10:
                            break
            pid = int(pid_file.read_text())
            await rest.cancel_job(sid, a, job.id)
            async with asyncio.timeout(TIMEOUT):
                while f"{job.id}: stopped" not in (await runner.stdout.readline()).decode():
                    pass
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
            runner.send_signal(signal.SIGINT)
            async with asyncio.timeout(TIMEOUT):
                rest_out, _ = await runner.communicate()
        finally:
            if runner.returncode is None:
                runner.kill()
                await runner.wait()
        assert runner.returncode == 0 and b"runner stopped after 0 job(s)" in rest_out
        done = await rest.job(sid, a, job.id)
        assert (done.status, done.cost_charged) == ("cancelled", 0)


HOSTILE = "\x1b[2J\x1b]0;pwned\x07hi\rfake\x9b31m\u202eevil\x7f"


@one_bus
async def test_watch_shows_hostile_text_escaped_and_never_acts_on_it(
    hub_server: TestServer, client: HubClient
) -> None:
    """A message and a job log line holding terminal escape sequences (clear screen,
    set title, carriage return, a C1 CSI, a bidi override) reach `hub watch` as visible
    escapes: no control character reaches the terminal, and a message's second line is
    indented so it cannot pass for another message."""
    s = await setup(client, credits=10)
    url = base_url(hub_server)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub.cli", "watch", "--url", url, "--limit", "2",
        env={**os.environ, "HUB_TOKEN": s.session["obs"]},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(TIMEOUT):
            assert b"watching" in await proc.stdout.readline()
        async with HubAPI(url) as rest:
            job = await rest.create_job(s.session["id"], s.session["a"], "echo")
            assert await rest.claim(s.runners["main"]) is not None
            await rest.report_log(s.runners["main"], job.id, 1, [("info", HOSTILE + "\nx")])
        async with connect(url, s.session["b"]) as b:
            await b.send(HOSTILE + "\n#99 12:00:00 alpha (agent A): approved")
            await b.send("the end")
        async with asyncio.timeout(TIMEOUT):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err
    text = out.decode()
    shown = "\\x1b[2J\\x1b]0;pwned\\x07hi\\rfake\\x9b31m\\u202eevil\\x7f"
    assert f"job {job.id} info: {shown}\\nx\n" in text
    assert f": {shown}\n    #99 12:00:00 alpha (agent A): approved\n" in text
    assert not [c for c in text if c != "\n" and not c.isprintable()], text


def test_printable_escapes_what_a_terminal_would_act_on() -> None:
    """C0 and C1 controls, DEL and format characters become escapes; kept ones stay."""
    assert printable("a\x1b[0m\tb\n", keep="\n") == "a\\x1b[0m\\tb\n"
    assert printable("\x9d0;t\x9c \u2028 ok \u00e9 名") == "\\x9d0;t\\x9c \\u2028 ok \u00e9 名"


@one_bus
@pytest.mark.timeout(120)
async def test_the_shell_runner_uploads_what_the_command_writes_to_its_output_folder(
    hub_server: TestServer, client: HubClient
) -> None:
    """`hub runner run` gives each job an empty HUB_JOB_OUTPUT folder: the files the
    command wrote there (not a symbolic link) are uploaded, named in the job's output
    attachments, and agent A downloads them."""
    s = await setup(client, credits=10)
    url, sid, a = base_url(hub_server), s.session["id"], s.session["a"]
    script = (
        'printf "ATOM 1" > "$HUB_JOB_OUTPUT/model.pdb"; echo 0.9 > "$HUB_JOB_OUTPUT/score.txt";'
        ' ln -s /etc/hostname "$HUB_JOB_OUTPUT/link"; echo \'{"ok": true}\''
    )
    async with HubAPI(url) as rest, connect(url, s.session["obs"]) as watcher:
        job = await rest.create_job(sid, a, "echo")
        runner = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hub.cli", "runner", "run", "--url", url, "--", "sh", "-c",
            script, env={**os.environ, "HUB_RUNNER_KEY": s.runners["main"]},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            async with asyncio.timeout(TIMEOUT):
                async for event in watcher:
                    if isinstance(event, JobEvent) and event.job.finished_at is not None:
                        ended = event.job
                        break
            runner.send_signal(signal.SIGINT)
            async with asyncio.timeout(TIMEOUT):
                stdout, stderr = await runner.communicate()
        finally:
            if runner.returncode is None:
                runner.kill()
                await runner.wait()
        assert runner.returncode == 0, stderr.decode()
        assert f"{job.id}: uploaded 2 file(s)" in stdout.decode()
        assert (ended.status, ended.output) == ("succeeded", {"ok": True})
        names = [(await rest.attachment(sid, a, i)).name for i in ended.output_attachments]
        assert names == ["model.pdb", "score.txt"]
        got = [await rest.download_attachment(sid, a, i) for i in ended.output_attachments]
        assert got == [b"ATOM 1", b"0.9\n"]

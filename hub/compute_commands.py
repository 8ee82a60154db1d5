"""`hub pool …`, `hub job …` and `hub runner …`: compute from the terminal.

Pools and runner keys with the user key `hub login` kept (HUB_USER_KEY overrides it);
a session's jobs with a token of the session (--token, --token-file or HUB_TOKEN); a
runner with its runner key (--key-file or HUB_RUNNER_KEY). `hub runner run` runs a
shell command per job (`hub.runner_command`)."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hub.client import HubAPI
from hub.commands import CommandError, answer_within, need_user_key, out, when
from hub.domain.jobs import Job
from hub.domain.pools import Pool
from hub.space_commands import cell, table

__all__ = ["COMMANDS", "add_parsers", "run"]

COMMANDS = ("pool", "job", "runner")

WithUrl = Callable[[argparse.ArgumentParser], argparse.ArgumentParser]
WithToken = Callable[[argparse.ArgumentParser, str], None]

USER_HELP = "With the user key `hub login USERNAME` kept (HUB_USER_KEY overrides it)."
TOKEN_HELP = "With a token of the session: --token, --token-file or HUB_TOKEN."


def add_parsers(commands: Any, with_url: WithUrl, with_token: WithToken) -> None:
    def group(name: str, text: str) -> Any:
        return commands.add_parser(name, help=text, description=text).add_subparsers(
            dest="action", required=True, metavar="ACTION"
        )

    def sub(container: Any, name: str, text: str, epilog: str) -> argparse.ArgumentParser:
        parser = with_url(container.add_parser(name, help=text, description=text))
        parser.epilog = epilog
        return parser

    pools = group("pool", "credit pools: create, top up, read the ledger, use for a session")
    create = sub(pools, "create", "create a pool of yours (or of a space you own)", USER_HELP)
    create.add_argument("name")
    create.add_argument("--space", metavar="SPACE", help="a space you own (slug)")
    sub(pools, "list", "your pools and your spaces' pools", USER_HELP)
    sub(pools, "show", "show a pool: balance, reserved, spent", USER_HELP).add_argument("pool")
    top_up = sub(pools, "top-up", "add credits to a pool (a grant)", USER_HELP)
    top_up.add_argument("pool")
    top_up.add_argument("amount", type=int)
    top_up.add_argument("--note", default="", help="why (kept in the ledger)")
    refund = sub(pools, "refund", "give back part of a finished job's charge", USER_HELP)
    refund.add_argument("pool")
    refund.add_argument("job")
    refund.add_argument("amount", type=int)
    refund.add_argument("--note", default="", help="why (kept in the ledger)")
    ledger = sub(pools, "ledger", "a pool's ledger, newest first", USER_HELP)
    ledger.add_argument("pool")
    ledger.add_argument("--limit", type=int, default=50, metavar="N")
    ledger.add_argument("--before", type=int, metavar="ID", help="entries older than this id")
    use = sub(pools, "use", "make a session's jobs draw on a pool (agent A)", TOKEN_HELP)
    use.add_argument("pool")
    use.add_argument("--session", required=True, metavar="SESSION")
    with_token(use, "agent A's token")

    jobs = group("job", "a session's jobs: create, list, show, cancel, read the log")

    def job_sub(name: str, text: str, *, job: bool = True) -> argparse.ArgumentParser:
        parser = sub(jobs, name, text, TOKEN_HELP)
        if job:
            parser.add_argument("job", metavar="JOB", help="the job id, like job_…")
        parser.add_argument("--session", required=True, metavar="SESSION")
        with_token(parser, "a token of the session")
        return parser

    new = job_sub("create", "queue a job (agents); its estimated cost is reserved", job=False)
    new.add_argument("--kind", required=True, help="the kind of work, like fold.protein")
    new.add_argument("--input", default="null", metavar="JSON", help="the job's input (JSON)")
    new.add_argument("--cost", type=int, default=0, metavar="CREDITS", help="estimated cost")
    new.add_argument("--attach", action="append", default=[], metavar="ATTACHMENT_ID")
    new.add_argument("--max-attempts", type=int, default=3, metavar="N")
    listing = job_sub("list", "the session's jobs, newest first", job=False)
    listing.add_argument("--status", help="only jobs in this status")
    listing.add_argument("--limit", type=int, default=50, metavar="N")
    job_sub("show", "show a job: status, progress, cost, output")
    job_sub("cancel", "cancel a queued or running job (agents)")
    log = job_sub("log", "a job's log entries")
    log.add_argument("--after", type=int, default=0, metavar="SEQ")
    log.add_argument("--limit", type=int, default=1000, metavar="N")

    runners = group("runner", "runner keys, and running a shell command per job")
    keys = runners.add_parser(
        "key", help="runner keys: create, list, revoke", description="Runner keys."
    ).add_subparsers(dest="key_action", required=True, metavar="ACTION")
    key_new = sub(keys, "create", "create a runner key for job kinds; prints it once", USER_HELP)
    key_new.add_argument("name")
    key_new.add_argument("--kind", dest="kinds", action="append", required=True, metavar="KIND")
    key_new.add_argument("--space", metavar="SPACE", help="a space you own (slug)")
    key_list = sub(keys, "list", "your runner keys (or a space's)", USER_HELP)
    key_list.add_argument("--space", metavar="SPACE")
    sub(keys, "revoke", "revoke a runner key", USER_HELP).add_argument("key_id")
    from hub.runner_command import add_parser

    add_parser(runners, with_url)


def _show_pool(pool: Pool) -> None:
    out(f"pool:     {pool.id}")
    out(f"name:     {cell(pool.name)}")
    out(f"owner:    {pool.owner_kind} {pool.owner}")
    out(f"balance:  {pool.balance}")
    out(f"reserved: {pool.reserved}")
    out(f"spent:    {pool.spent}")


def _show_job(job: Job) -> None:
    out(f"job:      {job.id}")
    out(f"kind:     {job.kind}")
    out(f"status:   {job.status}")
    out(f"progress: {job.progress}% {cell(job.progress_message)}".rstrip())
    out(f"attempts: {job.attempts} of {job.max_attempts}")
    charged = "—" if job.cost_charged is None else str(job.cost_charged)
    out(f"cost:     reserved {job.cost_reserved}, used {job.cost_used}, charged {charged}")
    out(f"created:  {when(job.created_at)} by {job.requested_by}")
    if job.error:
        out(f"error:    {cell(job.error)}")
    if job.output is not None:
        out(f"output:   {cell(json.dumps(job.output))}")


def _token_of(token: str | None) -> str:
    if token is None:
        raise CommandError("no token: give --token-file PATH or --token TOKEN, or set HUB_TOKEN")
    return token


def runner_key(args: argparse.Namespace) -> str:
    """The runner key: --key-file, else HUB_RUNNER_KEY."""
    if args.key_file:
        text = Path(args.key_file).read_text().strip()
    else:
        text = os.environ.get("HUB_RUNNER_KEY", "").strip()
    if not text:
        raise CommandError("no runner key: give --key-file PATH or set HUB_RUNNER_KEY")
    return text


async def run(args: argparse.Namespace, token: str | None) -> int:
    """Run `hub pool|job|runner ACTION`."""
    if args.command == "runner" and args.action == "run":
        from hub.runner_command import run_command

        return await run_command(args, runner_key(args))
    async with answer_within(args.url, args.timeout), HubAPI(args.url) as rest:
        if args.command == "pool":
            return await _pool(rest, args, token)
        if args.command == "job":
            return await _job(rest, args, _token_of(token))
        return await _keys(rest, args)


async def _pool(rest: HubAPI, args: argparse.Namespace, token: str | None) -> int:
    action = args.action
    if action == "use":
        used = await rest.set_session_pool(args.session, _token_of(token), args.pool)
        out(f"session {used.session_id} draws on {used.pool.id} ({used.pool.balance} credits)")
        return 0
    key = need_user_key(args.url)
    if action == "create":
        _show_pool(await rest.create_pool(key, args.name, space=args.space))
    elif action == "list":
        found = await rest.pools(key)
        if not found:
            out("no pools")
        rows = [[p.id, p.name, f"{p.owner_kind} {p.owner}", str(p.balance), str(p.reserved)]
                for p in found]  # fmt: skip
        if rows:
            table(["POOL", "NAME", "OWNER", "BALANCE", "RESERVED"], rows)
    elif action == "show":
        _show_pool(await rest.pool(key, args.pool))
    elif action == "refund":
        if args.amount < 1:
            raise CommandError("the amount must be a positive number of credits")
        _show_pool(await rest.refund(key, args.pool, args.job, args.amount, args.note))
    elif action == "top-up":
        if args.amount < 1:
            raise CommandError("the amount must be a positive number of credits")
        _show_pool(await rest.grant(key, args.pool, args.amount, args.note))
    else:
        page = await rest.ledger(key, args.pool, before=args.before, limit=args.limit)
        rows = [
            [str(e.id), when(e.created_at), e.kind, f"{e.amount:+d}", str(e.balance_after),
             e.job_id or "", e.actor]
            for e in page.entries
        ]  # fmt: skip
        if rows:
            table(["ID", "WHEN", "KIND", "AMOUNT", "BALANCE", "JOB", "BY"], rows)
        else:
            out("no entries")
    return 0


async def _job(rest: HubAPI, args: argparse.Namespace, token: str) -> int:
    action, session = args.action, args.session
    if action == "create":
        try:
            given = json.loads(args.input)
        except json.JSONDecodeError as exc:
            raise CommandError(f"--input is not JSON: {exc}") from None
        job = await rest.create_job(
            session,
            token,
            args.kind,
            given,
            attachments=args.attach,
            estimated_cost=args.cost,
            max_attempts=args.max_attempts,
        )
        _show_job(job)
    elif action == "list":
        page = await rest.jobs(session, token, status=args.status, limit=args.limit)
        rows = [[j.id, j.kind, j.status, f"{j.progress}%", str(j.cost_reserved),
                 "" if j.cost_charged is None else str(j.cost_charged), when(j.created_at)]
                for j in page.jobs]  # fmt: skip
        if rows:
            table(["JOB", "KIND", "STATUS", "PROGRESS", "RESERVED", "CHARGED", "CREATED"], rows)
        else:
            out("no jobs")
    elif action == "show":
        _show_job(await rest.job(session, token, args.job))
    elif action == "cancel":
        _show_job(await rest.cancel_job(session, token, args.job))
    else:
        entries = await rest.job_log(session, token, args.job, after=args.after, limit=args.limit)
        for e in entries:
            out(f"{e.seq:>5} {when(e.at)} {e.level:<7} {cell(e.text)}")
    return 0


async def _keys(rest: HubAPI, args: argparse.Namespace) -> int:
    key, action = need_user_key(args.url), args.key_action
    if action == "create":
        made = await rest.create_runner_key(key, args.name, args.kinds, space=args.space)
        out(f"key:    {made.key.id}")
        out(f"kinds:  {', '.join(made.key.kinds)}")
        out(f"owner:  {made.key.owner_kind} {made.key.owner}")
        out(f"runner key (shown once): {made.token}")
    elif action == "list":
        found = await rest.runner_keys(key, space=args.space)
        rows = [[k.id, k.name, ",".join(k.kinds), when(k.last_used_at) if k.last_used_at else "—",
                 "revoked" if k.revoked_at else "live"] for k in found]  # fmt: skip
        if rows:
            table(["KEY", "NAME", "KINDS", "LAST USED", "STATE"], rows)
        else:
            out("no runner keys")
    else:
        revoked = await rest.revoke_runner_key(key, args.key_id)
        out(f"revoked {revoked.id}")
    return 0

"""`hub pipeline …`: run a pipeline artifact of a session node by node, follow and
cancel its runs, with a token of the session (--token, --token-file or HUB_TOKEN)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from hub.client import HubAPI
from hub.commands import CommandError, answer_within, out, when
from hub.compute_commands import TOKEN_HELP, WithToken, WithUrl
from hub.domain.pipelines import PipelineRun
from hub.space_commands import cell, table

__all__ = ["COMMANDS", "add_parsers", "run"]

COMMANDS = ("pipeline",)


def add_parsers(commands: Any, with_url: WithUrl, with_token: WithToken) -> None:
    text = "a session's pipeline runs: run an artifact, list, show, cancel"
    runs = commands.add_parser("pipeline", help=text, description=text).add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )

    def sub(name: str, text: str, *, run_id: bool = True) -> argparse.ArgumentParser:
        parser = with_url(runs.add_parser(name, help=text, description=text))
        parser.epilog = TOKEN_HELP
        if run_id:
            parser.add_argument("run", metavar="RUN", help="the run id, like run_…")
        parser.add_argument("--session", required=True, metavar="SESSION")
        with_token(parser, "a token of the session")
        return parser

    start = sub(
        "run",
        "run a pipeline artifact (agents): one job per node, the whole cost reserved now",
        run_id=False,
    )
    start.add_argument("artifact", type=int, metavar="ARTIFACT", help="the artifact's id")
    start.add_argument("--version", type=int, metavar="N", help="this version (default: current)")
    start.add_argument(
        "--cost",
        action="append",
        default=[],
        metavar="NODE=CREDITS",
        help="a node's estimated cost (else its config.estimated_cost, else --default-cost)",
    )
    start.add_argument("--default-cost", type=int, default=0, metavar="CREDITS")
    start.add_argument("--max-attempts", type=int, default=3, metavar="N")
    start.add_argument(
        "--client-run-id",
        metavar="ID",
        help="your id for this run (1-128 characters): running again with it shows the run"
        " made the first time, and reserves nothing more",
    )
    listing = sub("list", "the session's runs, newest first", run_id=False)
    listing.add_argument("--status", help="only runs in this status")
    listing.add_argument("--limit", type=int, default=20, metavar="N")
    sub("show", "a run: its nodes' states and jobs, and its execution log")
    sub("cancel", "cancel a running run (agents)")


def _costs(given: list[str]) -> dict[str, int]:
    costs: dict[str, int] = {}
    for item in given:
        node, _, amount = item.partition("=")
        try:
            costs[node] = int(amount)
        except ValueError:
            raise CommandError(f"--cost {item!r}: give NODE=CREDITS") from None
    return costs


def _show_run(run: PipelineRun) -> None:
    out(f"run:      {run.id}")
    out(f"pipeline: artifact {run.artifact_id} v{run.artifact_version} {cell(run.title)}")
    out(f"status:   {run.status}")
    out(f"reserved: {run.cost_reserved}")
    out(f"created:  {when(run.created_at)} by {run.requested_by}")
    if run.cancelled_by:
        out(f"cancelled by {run.cancelled_by}")
    table(
        ["NODE", "TYPE", "STATE", "UPSTREAM", "JOB"],
        [[n.id, n.type, n.state, ",".join(n.upstream) or "—", n.job_id] for n in run.nodes],
    )


async def run(args: argparse.Namespace, token: str | None) -> int:
    """Run `hub pipeline ACTION`."""
    if token is None:
        raise CommandError("no token: give --token-file PATH or --token TOKEN, or set HUB_TOKEN")
    action, session = args.action, args.session
    async with answer_within(args.url, args.timeout), HubAPI(args.url) as rest:
        if action == "run":
            _show_run(
                await rest.run_pipeline(
                    session,
                    token,
                    args.artifact,
                    version=args.version,
                    costs=_costs(args.cost),
                    default_cost=args.default_cost,
                    max_attempts=args.max_attempts,
                    client_run_id=args.client_run_id,
                )
            )
        elif action == "list":
            page = await rest.pipeline_runs(session, token, status=args.status, limit=args.limit)
            rows = [[r.id, str(r.artifact_id), f"v{r.artifact_version}", r.status,
                     f"{sum(n.state == 'succeeded' for n in r.nodes)}/{len(r.nodes)}",
                     str(r.cost_reserved), when(r.created_at)]
                    for r in page.runs]  # fmt: skip
            if rows:
                table(["RUN", "ARTIFACT", "VERSION", "STATUS", "DONE", "RESERVED", "CREATED"], rows)
            else:
                out("no runs")
        elif action == "show":
            detail = await rest.pipeline_run(session, token, args.run)
            _show_run(detail.run)
            charged = sum(j.cost_charged or 0 for j in detail.jobs)
            out(f"charged:  {charged}")
            out("log:")
            for e in detail.log:
                result = "" if e.result is None else cell(json.dumps(e.result))
                out(f"{e.seq:>5} {when(e.at)} {e.node or '(run)':<16} {e.status:<10} {result}")
        else:
            _show_run(await rest.cancel_pipeline_run(session, token, args.run))
    return 0

"""`hub runner run --kind K -- CMD …`: a runner that runs a shell command per job.

The command gets the job's input as JSON on stdin (and in `HUB_JOB_INPUT`, with
`HUB_JOB_ID`, `HUB_JOB_KIND` and `HUB_JOB_ATTEMPT`; never the runner key). Each line it
prints is a log entry (stderr's as warnings); a line `::progress N message` reports
progress N% instead. Exit code 0 is success, its output the last line printed if that
is JSON (else `{"exit_code": 0}`), and the files it wrote in `HUB_JOB_OUTPUT` (a
fresh, empty directory per job) are uploaded and named in the result; any other exit
code is failure. A job cancelled or lost meanwhile has its command terminated. Ctrl-C
(or SIGTERM) stops claiming and lets the jobs under way finish; a second one stops at
once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hub.client import Result, Runner, RunningJob
from hub.commands import CommandError, out

__all__ = ["add_parser", "run_command"]

PROGRESS = "::progress "
KILL_AFTER = 5.0
"""Seconds a terminated command gets before it is killed."""
MAX_OUTPUT_FILES = 32
"""Files of `HUB_JOB_OUTPUT` one job may upload (a result names at most 32)."""


def add_parser(
    runners: Any, with_url: Callable[[argparse.ArgumentParser], argparse.ArgumentParser]
) -> None:
    text = "claim jobs and run a shell command for each (a demo runner)"
    parser = with_url(runners.add_parser("run", help=text, description=text))
    parser.epilog = (
        "The runner key comes from --key-file, else HUB_RUNNER_KEY. The job's input arrives"
        " as JSON on stdin and in HUB_JOB_INPUT; stdout lines are its log ('::progress N"
        " text' reports progress); exit code 0 is success (output: the last line, if JSON;"
        " the files it wrote in the directory HUB_JOB_OUTPUT are uploaded)."
    )
    parser.add_argument("--kind", dest="kinds", action="append", metavar="KIND",
                        help="claim only these kinds (default: all the key's)")  # fmt: skip
    parser.add_argument("--key-file", metavar="PATH", help="read the runner key from this file")
    parser.add_argument("--concurrency", type=int, default=1, metavar="N",
                        help="jobs run at once (default 1)")  # fmt: skip
    parser.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD ...")


class Failed(Exception):
    """The command exited with a non-zero code."""


def _output(last: str) -> Any:
    try:
        value = json.loads(last)
    except ValueError:
        return {"exit_code": 0}
    return value if isinstance(value, dict | list) else {"exit_code": 0}


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """Terminate the command's process group; kill it if it lingers."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signum)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), KILL_AFTER)
            return


def _files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.is_symlink())


async def _upload_outputs(job: RunningJob, folder: Path) -> list[str]:
    """Upload the regular files the command left in `folder` (not symbolic links, not
    subfolders), in name order; their attachment ids."""
    files = await asyncio.to_thread(_files_in, folder)
    if len(files) > MAX_OUTPUT_FILES:
        raise Failed(f"{len(files)} files in HUB_JOB_OUTPUT: at most {MAX_OUTPUT_FILES}")
    return [(await job.upload(path)).id for path in files]


def handler_for(cmd: list[str]) -> Callable[[RunningJob], Any]:
    async def handle(job: RunningJob) -> Any:
        with tempfile.TemporaryDirectory(prefix="hub-job-") as folder:
            return await _run(job, folder)

    async def _run(job: RunningJob, folder: str) -> Any:
        given = json.dumps(job.input)
        env = {
            **os.environ,
            "HUB_JOB_ID": job.id,
            "HUB_JOB_KIND": job.job.kind,
            "HUB_JOB_ATTEMPT": str(job.attempt),
            "HUB_JOB_INPUT": given,
            "HUB_JOB_OUTPUT": folder,
        }
        env.pop("HUB_RUNNER_KEY", None)
        out(f"{job.id} ({job.job.kind}, attempt {job.attempt}): started")
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        last = ""

        async def feed() -> None:
            assert proc.stdin is not None
            with contextlib.suppress(ConnectionError):
                proc.stdin.write(given.encode())
                await proc.stdin.drain()
                proc.stdin.close()

        async def stdout() -> None:
            nonlocal last
            assert proc.stdout is not None
            async for raw in proc.stdout:
                line = raw.decode(errors="replace").rstrip("\n")
                if line.startswith(PROGRESS):
                    number, _, message = line[len(PROGRESS) :].partition(" ")
                    with contextlib.suppress(ValueError):
                        await job.progress(max(0, min(100, int(number))), message)
                        continue
                if line.strip():
                    last = line
                job.log(line)

        async def stderr() -> None:
            assert proc.stderr is not None
            async for raw in proc.stderr:
                job.log(raw.decode(errors="replace").rstrip("\n"), "warning")

        try:
            await asyncio.gather(feed(), stdout(), stderr())
            code = await proc.wait()
        except BaseException:
            await _stop(proc)
            out(f"{job.id}: stopped")
            raise
        out(f"{job.id}: exit code {code}")
        if code != 0:
            raise Failed(f"exit code {code}")
        files = await _upload_outputs(job, Path(folder))
        if files:
            out(f"{job.id}: uploaded {len(files)} file(s)")
        return Result(output=_output(last), attachments=files)

    return handle


async def run_command(args: argparse.Namespace, key: str) -> int:
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        raise CommandError("give the command to run after --, like: hub runner run -- ./fold.sh")
    if args.concurrency < 1:
        raise CommandError("--concurrency must be at least 1")
    runner = Runner(args.url, key, kinds=args.kinds, concurrency=args.concurrency)
    task = asyncio.create_task(runner.run(handler_for(cmd)))
    loop = asyncio.get_running_loop()
    signals = 0

    def stop() -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            out("stopping: the jobs under way finish first (again to stop at once)")
            runner.stop()
        else:
            task.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop)
    out(f"runner at {args.url}: waiting for jobs")
    try:
        await task
    except asyncio.CancelledError:
        return 130
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    out(f"runner stopped after {runner.done} job(s)")
    return 0

"""`twt runs` (list, cancel, resume) and `twt job run` (the worker entry)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from rich.console import Console
from rich.table import Table

from twt_backend import jobs
from twt_backend.cli.follow import run_foreground
from twt_backend.errors import UsageError
from twt_backend.ops import jobs as ops_jobs
from twt_backend.progress import job_progress
from twt_backend.store import Project


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    runs = sub.add_parser(
        "runs",
        help="List jobs of a project: `twt runs DIR`; `twt runs cancel DIR ID`; `twt runs resume DIR ID`.",
    )
    runs.add_argument(
        "words",
        nargs="+",
        metavar="[ACTION] DIR [ID]",
        help="DIR, or cancel DIR ID, or resume DIR ID.",
    )
    runs.add_argument("--json", action="store_true", help="Print one JSON object per job.")
    runs.set_defaults(func=_runs)

    job = sub.add_parser("job", help="Worker entry point (used by the app and the CLI).")
    job_sub = job.add_subparsers(dest="job_command", metavar="ACTION")
    job_sub.required = True
    run = job_sub.add_parser("run", help="Run one job in this process.")
    run.add_argument("dir", help="Project folder.")
    run.add_argument("id", type=int, help="Job id.")
    run.set_defaults(func=_run_worker)


def _run_worker(args: argparse.Namespace) -> int:
    code = jobs.run_worker(args.dir, args.id)
    # The job's end is recorded; skip interpreter teardown (seconds once torch is loaded).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _runs(args: argparse.Namespace) -> int:
    words = args.words
    if words[0] in ("cancel", "resume"):
        if len(words) != 3 or not words[2].isdigit():
            raise UsageError(f"twt runs {words[0]}: expected DIR ID")
        args.dir, args.id = words[1], int(words[2])
        return _cancel(args) if words[0] == "cancel" else _resume(args)
    if len(words) != 1:
        raise UsageError("twt runs: expected DIR, or cancel DIR ID, or resume DIR ID")
    args.dir = words[0]
    return _list(args)


def _list(args: argparse.Namespace) -> int:
    with Project.open(args.dir, readonly=True) as project:  # works on a read-only share
        rows = ops_jobs.list_jobs(project)
    if args.json:
        for row in rows:
            print(json.dumps(row, sort_keys=True))
        return 0
    table = Table("id", "kind", "name", "status", "progress", "started", "finished", "error")
    now = time.time()
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["kind"],
            row["name"] or "",
            row["status"],
            job_progress(row, now).short(),
            row["started_at"] or "",
            row["finished_at"] or "",
            (row["error"] or "")[:60],
        )
    console = Console()
    if not console.is_terminal:  # a file or a pipe: whole cells, one line per job
        console = Console(width=200)
    console.print(table)
    return 0


def _cancel(args: argparse.Namespace) -> int:
    status = ops_jobs.cancel(args.dir, args.id)
    print(f"job {args.id}: {status}")
    return 0


def _resume(args: argparse.Namespace) -> int:
    with Project.open(args.dir) as project:
        ops_jobs.resume(project, args.id)
        return run_foreground(project, args.id)

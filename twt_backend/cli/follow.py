"""Run a job in the foreground: start its worker, show progress, Ctrl-C cancels it cleanly.

A job's progress snapshot may hold `{"bars": {label: {"done": n, "total": m, ...extra}},
"message": str}`; each bar becomes a rich progress line whose extra fields are shown
beside it (failed, in flight, tokens/s, cost...).
"""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from twt_backend import jobs
from twt_backend.store import Project

console = Console(stderr=True)
FINISHED_WITH_FAILURES = 3  # exit code: the job finished, but some items failed


def finished_code(job: dict[str, Any]) -> int:
    """Exit code of a finished job from the failures its final progress records
    (`failed` per bar); prints the first error it recorded per source, e.g. per teacher
    (`errors`, stored scrubbed)."""
    bars = (job["progress"].get("bars") or {}).values()
    failed = sum(int(bar.get("failed") or 0) for bar in bars)
    if not failed:
        return 0
    for name, error in (job["progress"].get("errors") or {}).items():
        print(f"twt: {name}: first error: {error}", file=sys.stderr)
    print(f"twt: job {job['id']} finished with {failed} failed item(s)", file=sys.stderr)
    return FINISHED_WITH_FAILURES


def _extras(bar: dict[str, Any]) -> str:
    return "  ".join(f"{k}={v}" for k, v in bar.items() if k not in ("done", "total"))


def run_foreground(project: Project, job_id: int, quiet: bool = False) -> int:
    """Start the worker, follow it until it ends; returns the CLI exit code."""
    process = jobs.start_detached(project, job_id)
    tasks: dict[str, Any] = {}
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[extra]}"),
        console=console,
        disable=quiet or not console.is_terminal,
    )

    def show(job: dict[str, Any]) -> None:
        for label, bar in (job["progress"].get("bars") or {}).items():
            if label not in tasks:
                tasks[label] = progress.add_task(label, total=bar.get("total"), extra="")
            progress.update(
                tasks[label],
                completed=bar.get("done", 0),
                total=bar.get("total"),
                extra=_extras(bar),
            )

    try:
        with progress:
            try:
                job = jobs.wait(project, job_id, on_progress=show)
            except KeyboardInterrupt:
                console.print("cancelling...")
                jobs.cancel(project, job_id)
                job = jobs.get_job(project, job_id)
    finally:
        process.wait()
    message = job["progress"].get("message")
    if message and not quiet:
        console.print(message)
    if job["status"] == "finished":
        return finished_code(job)
    if job["status"] == "cancelled":
        console.print(f"job {job_id} cancelled; run the command again to resume")
        return 130
    print(
        f"twt: error: job {job_id} {job['status']}: {job['error'] or 'see the job log'} "
        f"({job['artifact_dir']})",
        file=sys.stderr,
    )
    return 1

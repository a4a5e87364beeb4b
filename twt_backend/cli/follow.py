"""Run a job in the foreground: start its worker, show progress, Ctrl-C cancels it cleanly.

A job's progress snapshot may hold `{"bars": {label: {"done": n, "total": m, ...extra}},
"message": str, "phase": str}`. The terminal shows one line for the job (phase, step k of
N or items done of total, elapsed, ETA: `twt_backend.progress`, the words `twt runs` and
the app use too), then one progress line per bar with its own ETA and its extra fields
(failed, in flight, tokens/s, cost...).
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.text import Text

from twt_backend import jobs
from twt_backend.progress import duration, job_progress
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


HIDDEN = ("done", "total", "eta_s")  # shown by their own columns


def _extras(bar: dict[str, Any]) -> str:
    return "  ".join(f"{k}={v}" for k, v in bar.items() if k not in HIDDEN)


class ProgressView:
    """What the terminal shows while a job runs: the job's line, then one bar per label."""

    def __init__(self, job_name: str = "") -> None:
        self.job_name = job_name
        self.header = Text()
        self.progress = Progress(
            TextColumn("  {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[eta]}"),
            TextColumn("{task.fields[extra]}"),
        )
        self.tasks: dict[str, Any] = {}

    def update(self, job: dict[str, Any], now: float | None = None) -> None:
        now = time.time() if now is None else now
        readable = job_progress(job, now)
        name = self.job_name or str(job.get("name") or job.get("kind") or "")
        line = f"{name}: {readable.line()}" if name else readable.line()
        if job.get("kind") == "pipeline" and readable.message and readable.active:
            line += f"\n  {readable.message}"  # which step of the pipeline, and its state
        self.header = Text(line)
        raw = job["progress"].get("bars") or {}
        for bar in readable.bars:
            if bar.label not in self.tasks:
                self.tasks[bar.label] = self.progress.add_task(
                    bar.label, total=bar.total, eta="", extra=""
                )
            eta = f"ETA {duration(bar.eta_s)}" if bar.eta_s is not None else ""
            self.progress.update(
                self.tasks[bar.label],
                completed=bar.done,
                total=bar.total,
                eta=eta if readable.active else "",
                extra=_extras(raw.get(bar.label) or {}),
            )

    def __rich__(self) -> RenderableType:
        return Group(self.header, self.progress)


def run_foreground(project: Project, job_id: int, quiet: bool = False) -> int:
    """Start the worker, follow it until it ends; returns the CLI exit code."""
    process = jobs.start_detached(project, job_id)
    view = ProgressView()
    shown = not quiet and console.is_terminal
    live = Live(view, console=console, refresh_per_second=4, transient=False)

    def show(job: dict[str, Any]) -> None:
        view.update(job)
        if shown:
            live.refresh()

    try:
        with live if shown else contextlib.nullcontext():
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

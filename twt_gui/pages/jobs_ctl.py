"""Starting, following and cancelling worker jobs from the GUI (never blocks the UI): thin
adapters over `twt_backend.ops.jobs`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twt_backend.ops import jobs as ops_jobs
from twt_backend.ops.projects import Project

latest_job = ops_jobs.latest_job
job_rows = ops_jobs.job_rows
tail = ops_jobs.tail


def start_job(project: Project, kind: str, config: dict[str, Any], name: str | None = None) -> int:
    """Start a job detached (it outlives the app), or resume the unfinished one of the same
    kind and target (`ops.jobs.start_or_resume`, the CLI's rule too). While another job
    holds the same per-project lock (a terminal's `twt generate`, say) this raises
    JobLockedError, a TwtError whose one line the pages show: the running job's id and how
    to follow or cancel it."""
    return ops_jobs.start_or_resume(project, kind, config, name, detach=True).job_id


def cancel_job(project_dir: Path, job_id: int) -> str:
    """Cancel on a worker thread (SIGINT, grace, SIGKILL), with its own connection."""
    return ops_jobs.cancel(project_dir, job_id)

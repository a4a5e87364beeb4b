"""Job operations for the front ends: start or resume (the rule lives in
`twt_backend.job_start`, below the pipeline, which follows it too), list, cancel, resume
by id, follow."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from twt_backend import jobs
from twt_backend.errors import UsageError
from twt_backend.job_start import Started, resumable, start_detached, start_or_resume
from twt_backend.store import Project
from twt_backend.store import jobs_repo as repo

__all__ = ["ACTIVE", "FINISHED", "Started", "resumable", "start_detached", "start_or_resume"]

ACTIVE = jobs.ACTIVE  # a job's statuses while its worker runs or is about to
FINISHED = jobs.FINISHED


def resume(project: Project, job_id: int) -> dict[str, Any]:
    """Check that a job can be started again by id (`twt runs resume`); its row."""
    jobs.reap_stale(project)
    job = jobs.get_job(project, job_id)
    if job["status"] == "finished":
        raise UsageError(f"job {job_id} has already finished")
    return job


def cancel(project_dir: str | Path, job_id: int) -> str:
    """SIGINT the job's worker, wait, kill; the final status. Opens its own connection, so
    it may run on a worker thread of the app."""
    with Project.open(project_dir) as project:
        return jobs.cancel(project, job_id)


def list_jobs(project: Project) -> list[dict[str, Any]]:
    """Every job, oldest first, with the status the app would record for a dead worker
    (reads only: works on a read-only project)."""
    rows = jobs.list_jobs(project)
    by_id = {row["id"]: row for row in rows}
    for job_id, (status, reason) in jobs.stale_jobs(project).items():
        by_id[job_id].update(status=status, error=by_id[job_id]["error"] or reason)
    return rows


def get_job(project: Project, job_id: int) -> dict[str, Any]:
    return jobs.get_job(project, job_id)


def reattach(project: Project) -> list[int]:
    """Record the jobs whose worker is gone (interrupted, resumable); their ids."""
    return jobs.reap_stale(project)


def latest_job(project: Project, kinds: tuple[str, ...]) -> dict[str, Any] | None:
    job_id = repo.latest_of_kinds(project, kinds)
    return jobs.get_job(project, job_id) if job_id is not None else None


def job_rows(project: Project, kinds: tuple[str, ...]) -> list[dict[str, Any]]:
    return repo.rows_of_kinds(project, kinds)


def metrics_since(
    project: Project, job_id: int, after_id: int
) -> list[tuple[int, float, str, float]]:
    """(row id, step, name, value) of a job's metrics written after row `after_id`."""
    return repo.metrics_since(project, job_id, after_id)


def tail(path: Path, max_bytes: int = 20_000) -> str:
    """The end of a log file ("" when it does not exist)."""
    if not path.exists():
        return ""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        handle.seek(max(0, handle.tell() - max_bytes))
        return handle.read().decode("utf-8", errors="replace")

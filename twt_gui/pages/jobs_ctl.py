"""Starting, following and cancelling worker jobs from the GUI (never blocks the UI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twt_backend import jobs
from twt_backend.store import Project


def start_job(project: Project, kind: str, config: dict[str, Any], name: str | None = None) -> int:
    """Create a job row and start its worker detached; it outlives the app. While another
    job holds the same per-project lock (a terminal's `twt generate`, say) this raises
    JobLockedError, a TwtError whose one line the pages show: the running job's id and how
    to follow or cancel it."""
    job_id = jobs.create_job(project, kind, config, name=name)
    jobs.start_detached(project, job_id)
    return job_id


def cancel_job(project_dir: Path, job_id: int) -> str:
    """Cancel on a worker thread (SIGINT, grace, SIGKILL), with its own connection."""
    project = Project.open(project_dir)
    try:
        return jobs.cancel(project, job_id)
    finally:
        project.close()


def latest_job(project: Project, kinds: tuple[str, ...]) -> dict[str, Any] | None:
    marks = ",".join("?" * len(kinds))
    row = project.rows(
        f"SELECT id FROM jobs WHERE kind IN ({marks}) ORDER BY "
        "status IN ('queued', 'running') DESC, id DESC LIMIT 1",
        kinds,
    )
    return jobs.get_job(project, row[0]["id"]) if row else None


def job_rows(project: Project, kinds: tuple[str, ...]) -> list[dict[str, Any]]:
    marks = ",".join("?" * len(kinds))
    return project.rows(
        f"SELECT id, kind, name, status, config, progress, created_at, started_at, finished_at,"
        f" error FROM jobs"
        f" WHERE kind IN ({marks}) ORDER BY id DESC",
        kinds,
    )


def tail(path: Path, max_bytes: int = 20_000) -> str:
    if not path.exists():
        return ""
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - max_bytes))
        return handle.read().decode("utf-8", errors="replace")

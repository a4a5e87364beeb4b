"""Running a step of a bigger job (pipeline, refinement) as its own child job.

The child is a job row of its own (the GUI and `twt runs` show it) run by a detached
worker process, so a step's memory (models, GPU) is freed when it ends. The parent waits
for it, mirrors its progress bars into its own progress, and on its own cancel forwards
the cancel (SIGINT, grace, kill) to the child and stops. A child that failed or was
cancelled stops the parent too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from twt_backend import jobs
from twt_backend.errors import TwtError
from twt_backend.jobs import JobCancelled, JobContext
from twt_backend.store import utcnow

POLL_S = 0.3


def run_child(
    ctx: JobContext,
    kind: str,
    config: dict[str, Any],
    name: str,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run a child job to its end; returns its final row. The child is started or resumed
    by the rule every front end follows (`ops.jobs.start_or_resume`: an interrupted train
    step continues from its checkpoint). Raises JobCancelled when the parent is cancelled
    or the child was, TwtError when the child failed."""
    from twt_backend.job_start import start_or_resume

    ctx.check_cancelled()
    project = ctx.project
    job_id = start_or_resume(project, kind, config, name, parent=ctx.job_id).job_id
    ctx.event("child_started", job_id=job_id, kind=kind, name=name)
    process = jobs.start_detached(project, job_id, parent=ctx.job_id)  # under our locks
    try:
        while process.poll() is None:
            if ctx.cancelled.is_set():
                jobs.cancel(project, job_id)
                raise JobCancelled()
            if on_progress:
                on_progress(jobs.get_job(project, job_id))
            time.sleep(POLL_S)
    finally:
        process.wait()
    job = jobs.get_job(project, job_id)
    if job["status"] in jobs.ACTIVE:  # the worker died without recording its end
        _mark_failed(ctx, job_id, f"worker exited with code {process.returncode}")
        job = jobs.get_job(project, job_id)
    if on_progress:
        on_progress(job)
    ctx.event("child_ended", job_id=job_id, kind=kind, status=job["status"])
    if job["status"] == "cancelled" or ctx.cancelled.is_set():
        raise JobCancelled()
    if job["status"] != "finished":
        raise TwtError(
            f"{name} (job {job_id}) {job['status']}: {job['error'] or 'see its log'} "
            f"({job['artifact_dir']})"
        )
    return job


def _mark_failed(ctx: JobContext, job_id: int, error: str) -> None:
    with ctx.project.transaction() as conn:
        conn.execute(
            "UPDATE jobs SET status='failed', error=?, finished_at=? "
            "WHERE id=? AND status IN ('queued', 'running')",
            (error, utcnow(), job_id),
        )

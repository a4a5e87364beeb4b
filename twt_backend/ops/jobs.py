"""Start or resume a job of any kind: the one rule every front end (CLI, app, pipeline)
follows, and the job operations around it (list, cancel, resume by id).

A job's *target* is what its per-project lock names (store/locks.py): `train:3`,
`train:kd`, `eval:stage2`, `infer:1`, `generate`, `select`, `refine`, `*` for a pipeline.
`start_or_resume(kind, config)` looks at the newest job of the same kind and target:

* it is active with a live worker: refused (JobLockedError, the lock's one line);
* it did not finish (interrupted, cancelled, failed, or queued and never started) and
  the kind resumes (below): that job is started again, same id and artifact folder, and
  picks up where it stopped;
* otherwise a new job is created.

What "resume" means per kind:

| kind | resumes | from |
| --- | --- | --- |
| train | yes, with the same settings (launch settings aside) | its last checkpoint |
| generate, infer, refine, eval | yes, with the same settings | the store: rows it finished are skipped (a new job skips them too) |
| pipeline | yes, with the same options | the store: finished steps are skipped, an unfinished train step resumes from its checkpoint |
| select, check | never | they are cheap and start over |

A train job with *other* settings than an unfinished run that left a checkpoint is refused
(UsageError): a new job would replace that checkpoint. `restart=True` (`--restart` on the
command line) always creates a new job; for training the new job then drops the
unfinished run's checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twt_backend import jobs
from twt_backend.errors import UsageError
from twt_backend.store import Project, locks
from twt_backend.store import jobs_repo as repo

RESUMABLE = ("interrupted", "cancelled", "failed", "queued")
NEVER_RESUMED = ("select", "check")
IGNORED_FOR_RESUME = {"train": ("launch",)}  # a checkpoint resumes on another launcher


@dataclass(frozen=True)
class Started:
    job_id: int
    resumed: bool


def _same_settings(kind: str, a: dict[str, Any], b: dict[str, Any]) -> bool:
    ignored = IGNORED_FOR_RESUME.get(kind, ())
    return {k: v for k, v in a.items() if k not in ignored} == {
        k: v for k, v in b.items() if k not in ignored
    }


def _has_checkpoint(project: Project, kind: str, job: dict[str, Any]) -> bool:
    """A train job whose checkpoints folder still holds its checkpoints."""
    if kind != "train":
        return False
    from twt_backend.training.settings import checkpoints_dir

    target = job["config"].get("baseline") or int(job["config"].get("stage", 0))
    folder = checkpoints_dir(project.root, target)
    owner = folder / "JOB"
    return (
        owner.is_file()
        and owner.read_text().strip() == str(job["id"])
        and any(folder.glob("checkpoint-*"))
    )


def resumable(
    project: Project,
    kind: str,
    config: dict[str, Any],
    restart: bool = False,
    exclude: int | None = None,
) -> int | None:
    """The job `start_or_resume` would start again (None: it creates a new one)."""
    jobs.reap_stale(project)
    if kind in NEVER_RESUMED:
        return None
    key = locks.lock_key(kind, config)
    latest_id = repo.latest_with_lock(project, kind, key, exclude)
    if latest_id is None:
        return None
    latest = jobs.get_job(project, latest_id)
    if latest["status"] in jobs.ACTIVE and jobs.pid_alive(latest["pid"]):
        return None  # create_job refuses it with the lock's message
    if restart or latest["status"] not in RESUMABLE:
        return None
    if _same_settings(kind, latest["config"], config):
        return latest_id
    if _has_checkpoint(project, kind, latest):
        raise UsageError(
            f"{latest['name']}: job {latest_id} stopped ({latest['status']}) with a checkpoint "
            "and other settings; resume it with its own settings "
            f"(`twt runs resume {project.root} {latest_id}`), or start afresh and drop its "
            "checkpoint with --restart"
        )
    return None


def start_or_resume(
    project: Project,
    kind: str,
    config: dict[str, Any],
    name: str | None = None,
    *,
    restart: bool = False,
    detach: bool = False,
    parent: int | None = None,
) -> Started:
    """The job to run for this kind and config: an unfinished one of the same target
    resumed, or a new one (module docstring). With `detach`, its worker is started in its
    own session (the app); without, the caller starts it (the CLI's foreground run, a
    pipeline's child)."""
    job_id = resumable(project, kind, config, restart, exclude=parent)
    resumed = job_id is not None
    if job_id is None:
        job_id = jobs.create_job(project, kind, config, name=name, parent=parent)
    if detach:
        start_detached(project, job_id)
    return Started(job_id, resumed)


def start_detached(project: Project, job_id: int) -> None:
    jobs.start_detached(project, job_id)


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

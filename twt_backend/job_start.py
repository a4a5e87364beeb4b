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

from dataclasses import dataclass
from typing import Any

from twt_backend import jobs
from twt_backend.errors import UsageError
from twt_backend.store import Project, locks
from twt_backend.store import jobs_repo as repo

RESUMABLE = ("interrupted", "cancelled", "failed", "queued")
NEVER_RESUMED = ("select", "selftest", "check")
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
    from twt_backend.artifacts import checkpoints_dir

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

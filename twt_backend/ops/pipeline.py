"""Run the whole pipeline (`twt run`, the app's "Run the whole pipeline") as one job, and
read how its steps ended.

Resuming: a pipeline with the same options as an unfinished one continues that job (its
finished steps are skipped, an interrupted train step resumes from its checkpoint through
`ops.jobs.start_or_resume`, the same rule `twt train` and the app follow).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from twt_backend import jobs
from twt_backend.errors import UsageError
from twt_backend.ops.jobs import Started, start_or_resume
from twt_backend.store import Project
from twt_backend.store import jobs_repo as repo


def default_options() -> dict[str, Any]:
    """The pipeline's default options (`pipeline.Options`), as the job config holds them."""
    from twt_backend.pipeline import Options

    return dataclasses.asdict(Options())


def pipeline_config(options: dict[str, Any]) -> dict[str, Any]:
    """The validated job config of pipeline options (`pipeline.Options` fields)."""
    from twt_backend.pipeline import Options, options_from

    config = dataclasses.asdict(options_from(dataclasses.asdict(Options()) | options))
    return config


def start_pipeline(
    project: Project, options: dict[str, Any], *, restart: bool = False, detach: bool = False
) -> Started:
    """Refuse what cannot run (no train queries, an absent engine, a running job: a
    pipeline takes every lock) before any job exists; then start or resume."""
    from twt_backend.config import GenerationConfig
    from twt_backend.evaluation.vllm_server import check_engine
    from twt_backend.settings import load_config

    config = pipeline_config(options)
    engine = config["generation"].get("engine") or load_config(project, GenerationConfig).engine
    check_engine(engine)
    if not repo.queries_in_split(project, "train"):
        raise UsageError(f"{project.root}: no train queries; import some with `twt import`")
    jobs.reap_stale(project)
    jobs.check_lock(project, "pipeline", config)
    return start_or_resume(project, "pipeline", config, "pipeline", restart=restart, detach=detach)


@dataclasses.dataclass(frozen=True)
class StepFailures:
    name: str
    job_id: int
    failed: int
    first_errors: dict[str, str]  # source (a teacher...) -> its first error, scrubbed


def step_failures(project: Project, pipeline_id: int) -> list[StepFailures]:
    """The steps this pipeline job ran that finished with failed items (their final
    progress records `failed` per bar and the first error per source); of a step run more
    than once (a resumed pipeline), its latest run."""
    found: dict[str, StepFailures] = {}
    for child_id in repo.children(project, pipeline_id):
        job = jobs.get_job(project, child_id)
        found.pop(str(job["name"]), None)
        if job["status"] != "finished":
            continue
        bars = (job["progress"].get("bars") or {}).values()
        failed = sum(int(bar.get("failed") or 0) for bar in bars)
        if failed:
            errors = {str(k): str(v) for k, v in (job["progress"].get("errors") or {}).items()}
            found[str(job["name"])] = StepFailures(str(job["name"]), child_id, failed, errors)
    return list(found.values())

"""Evaluate a stage's student (0 = vanilla) or a baseline on a query split: one operation
for `twt eval` and the app's Training page (the pipeline's eval steps use the same job
kind and start rule). An interrupted evaluation of the same method and settings resumes:
the queries it already scored are skipped."""

from __future__ import annotations

from typing import Any

from twt_backend.errors import UsageError
from twt_backend.ops.jobs import Started, start_or_resume
from twt_backend.store import Project

Target = int | str


def start_eval(
    project: Project,
    target: Target,
    *,
    split: str = "test",
    limit: int | None = None,
    student: str | None = None,
    nproc: int = 1,
    generation: dict[str, Any] | None = None,
    prompt_mode: str | None = None,
    restart: bool = False,
    detach: bool = False,
) -> Started:
    """Refuse what cannot run (bad numbers, an empty split, an untrained adapter, a vLLM
    engine that is absent) before any job exists, then start or resume the eval job."""
    from twt_backend.evaluation.job import eval_job_config
    from twt_backend.evaluation.vllm_server import check_engine

    if limit is not None and limit < 1:
        raise UsageError("--limit: must be at least 1")
    if nproc < 1:
        raise UsageError("--nproc: must be at least 1")
    config = eval_job_config(
        project,
        target,
        split=split,
        limit=limit,
        student=student,
        nproc=nproc,
        generation=generation,
        prompt_mode=prompt_mode,
    )
    check_engine(config["generation"]["engine"])  # vllm asked for and absent: refused
    name = f"eval {config['method']}"
    return start_or_resume(project, "eval", config, name, restart=restart, detach=detach)

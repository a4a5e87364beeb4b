"""The `infer` job: the stage-N student answers every query of the distillation set G,
rows in `student_outputs` (what teacher-guided compression rewrites towards), each with its
provenance (evaluation/provenance.py). Resumable over outputs of the same provenance: after
a retrain of stage N (a new adapter hash) its student answers are asked again."""

from __future__ import annotations

from typing import Any

from twt_backend.evaluation.provenance import Provenance, make_provenance
from twt_backend.evaluation.runner import Item, job_engine, launch_shards, run_items
from twt_backend.jobs import JobContext
from twt_backend.selection.samples import effective_samples
from twt_backend.store import Project, utcnow
from twt_backend.tasks import get_task
from twt_backend.tasks.base import DEFAULT_PROMPT_MODE


def config_provenance(config: dict[str, Any], engine: str | None = None) -> Provenance:
    """The provenance of an "infer" job config's outputs (see hard.refine.infer_config)."""
    return make_provenance(
        config.get("adapter"),
        config.get("student"),
        config.get("prompt_mode") or DEFAULT_PROMPT_MODE,
        config.get("generation"),
        engine,
    )


def default_provenance(project: Project, stage: int) -> Provenance | None:
    """The provenance a stage-N "infer" job would record now; None when stage N is not
    trained (no stored answer can be current then)."""
    from twt_backend.artifacts import stage_finished
    from twt_backend.hard.refine import infer_config

    if not stage_finished(project.root, stage):
        return None
    return config_provenance(infer_config(project, stage, {}))


def infer_items(
    project: Project,
    stage: int,
    mode: str = "full",
    prompt_mode: str = DEFAULT_PROMPT_MODE,
    provenance: Provenance | None = None,
) -> list[Item]:
    """One item per query of G still without a stage-N student output of this provenance
    (default: `default_provenance`), asked the way the stage was trained (`prompt_mode`:
    "shared" or "stage")."""
    task = get_task(project.task)
    provenance = provenance or default_provenance(project, stage)
    done = {
        r["query_id"]
        for r in project.rows(
            "SELECT query_id FROM student_outputs WHERE stage=? AND provenance=?",
            (stage, provenance.key if provenance else None),
        )
    }
    items: dict[int, Item] = {}
    for sample in effective_samples(project):
        query_id = sample["query_id"]
        if query_id in done or query_id in items:
            continue
        items[query_id] = Item(
            query_id,
            task.student_prompt(sample["payload"], mode, prompt_mode),
            sample["payload"],
            sample["reference"],
        )
    return list(items.values())


def make_writer(stage: int, job_id: int, provenance: Provenance):  # type: ignore[no-untyped-def]
    def write(project: Project, items: list[Item], completions: list[Any]) -> None:
        now = utcnow()
        with project.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO student_outputs(query_id, stage, job_id, output, tokens, "
                "prompt_mode, adapter_sha256, base_model, generation, provenance, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        i.query_id,
                        stage,
                        job_id,
                        c.text,
                        c.tokens,
                        provenance.prompt_mode,
                        *provenance.columns(),
                        now,
                    )
                    for i, c in zip(items, completions, strict=True)
                ],  # fmt: skip
            )

    return write


def run_job(ctx: JobContext, rank: int = 0, world_size: int = 1) -> None:
    stage = int(ctx.config.get("stage", 1))
    provenance = config_provenance(ctx.config, job_engine(ctx))
    items = infer_items(
        ctx.project,
        stage,
        ctx.config.get("mode", "full"),
        ctx.config.get("prompt_mode") or DEFAULT_PROMPT_MODE,
        provenance,
    )
    nproc = int(ctx.config.get("nproc", 1))
    if nproc > 1 and world_size == 1:
        launch_shards(ctx, nproc)
    elif items:
        run_items(
            ctx,
            items,
            make_writer(stage, ctx.job_id, provenance),
            "student answers",
            rank,
            world_size,
        )
    if rank == 0:
        total = ctx.project.scalar("SELECT COUNT(*) FROM student_outputs WHERE stage=?", (stage,))
        ctx.progress(
            force=True,
            bars={"student answers": {"done": total, "total": total}},
            message=f"stage-{stage} student answered {total} queries",
        )

"""The `infer` job: the stage-N student answers every query of the distillation set G,
rows in `student_outputs` (what teacher-guided compression rewrites towards). Resumable."""

from __future__ import annotations

from typing import Any

from twt_backend.evaluation.runner import Item, launch_shards, run_items
from twt_backend.jobs import JobContext
from twt_backend.selection.samples import effective_samples
from twt_backend.store import Project, utcnow
from twt_backend.tasks import get_task
from twt_backend.tasks.base import DEFAULT_PROMPT_MODE


def infer_items(
    project: Project, stage: int, mode: str = "full", prompt_mode: str = DEFAULT_PROMPT_MODE
) -> list[Item]:
    """One item per query of G still without a stage-N student output, asked the way the
    stage was trained (`prompt_mode`: "shared" or "stage")."""
    task = get_task(project.task)
    done = {
        r["query_id"]
        for r in project.rows("SELECT query_id FROM student_outputs WHERE stage=?", (stage,))
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


def make_writer(stage: int, job_id: int):  # type: ignore[no-untyped-def]
    def write(project: Project, items: list[Item], completions: list[Any]) -> None:
        now = utcnow()
        with project.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO student_outputs(query_id, stage, job_id, output, tokens, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (i.query_id, stage, job_id, c.text, c.tokens, now)
                    for i, c in zip(items, completions, strict=True)
                ],
            )

    return write


def run_job(ctx: JobContext, rank: int = 0, world_size: int = 1) -> None:
    stage = int(ctx.config.get("stage", 1))
    items = infer_items(
        ctx.project,
        stage,
        ctx.config.get("mode", "full"),
        ctx.config.get("prompt_mode") or DEFAULT_PROMPT_MODE,
    )
    nproc = int(ctx.config.get("nproc", 1))
    if nproc > 1 and world_size == 1:
        launch_shards(ctx, nproc)
    elif items:
        run_items(ctx, items, make_writer(stage, ctx.job_id), "student answers", rank, world_size)
    if rank == 0:
        total = ctx.project.scalar("SELECT COUNT(*) FROM student_outputs WHERE stage=?", (stage,))
        ctx.progress(
            force=True,
            bars={"student answers": {"done": total, "total": total}},
            message=f"stage-{stage} student answered {total} queries",
        )

"""The `eval` job: a stage's student (0 = vanilla) answers the test split; per query the
output, its token count and correctness land in `eval_results`. Resumable."""

from __future__ import annotations

import json
from typing import Any

from twt_backend.evaluation.judge import judge_outputs
from twt_backend.evaluation.runner import Item, launch_shards, run_items
from twt_backend.jobs import JobContext
from twt_backend.store import Project, utcnow
from twt_backend.tasks import get_task
from twt_backend.tasks.base import mode_for_stage


def method_name(stage: int) -> str:
    return f"stage{stage}"


def n_stages(project: Project) -> int:
    return int(project.get_meta("n_stages") or 3)


def eval_items(project: Project, config: dict[str, Any]) -> list[Item]:
    """Queries of the split still without a result for this method, in id order."""
    task = get_task(project.task)
    stage = int(config["stage"])
    method = config.get("method") or method_name(stage)
    limit = config.get("limit")
    rows = project.rows(
        "SELECT id, payload, reference FROM queries WHERE split=? ORDER BY id"
        + (" LIMIT ?" if limit else ""),
        (config.get("split", "test"), limit) if limit else (config.get("split", "test"),),
    )
    done = {
        r["query_id"]
        for r in project.rows("SELECT query_id FROM eval_results WHERE method=?", (method,))
    }
    items = []
    for row in rows:
        if row["id"] in done:
            continue
        payload = json.loads(row["payload"])
        prompt = (
            task.vanilla_prompt(payload)
            if stage == 0
            else task.student_prompt(
                payload, config.get("mode") or mode_for_stage(stage, n_stages(project))
            )
        )
        items.append(Item(row["id"], prompt, payload, row["reference"]))
    return items


def make_writer(method: str, job_id: int, task_name: str):  # type: ignore[no-untyped-def]
    def write(project: Project, items: list[Item], completions: list[Any]) -> None:
        verdicts = judge_outputs(
            task_name,
            [c.text for c in completions],
            [i.payload for i in items],
            [i.reference for i in items],
        )
        now = utcnow()
        with project.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO eval_results(method, query_id, job_id, output, answer, "
                "tokens, correct, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (method, i.query_id, job_id, c.text, v.answer, c.tokens, int(v.correct), now)
                    for i, c, v in zip(items, completions, verdicts, strict=True)
                ],
            )

    return write


def summary(project: Project, method: str) -> dict[str, Any]:
    row = project.rows(
        "SELECT COUNT(*) AS n, COALESCE(SUM(correct), 0) AS correct, AVG(tokens) AS mean_tokens "
        "FROM eval_results WHERE method=?",
        (method,),
    )[0]
    n = row["n"]
    return {
        "method": method,
        "n": n,
        "correct": row["correct"],
        "accuracy": row["correct"] / n if n else 0.0,
        "mean_output_tokens": row["mean_tokens"] or 0.0,
    }


def run_job(ctx: JobContext, rank: int = 0, world_size: int = 1) -> None:
    project = ctx.project
    stage = int(ctx.config["stage"])
    method = ctx.config.get("method") or method_name(stage)
    items = eval_items(project, ctx.config)
    nproc = int(ctx.config.get("nproc", 1))
    if nproc > 1 and world_size == 1:
        launch_shards(ctx, nproc)
    elif items:
        run_items(
            ctx, items, make_writer(method, ctx.job_id, project.task), method, rank, world_size
        )
    if rank == 0:
        result = summary(project, method)
        ctx.progress(
            force=True,
            bars={method: {"done": result["n"], "total": result["n"]}},
            message=f"{method}: accuracy {result['accuracy']:.3f} on {result['n']} "
            f"queries, {result['mean_output_tokens']:.1f} output tokens",
        )
        ctx.event("eval_summary", **result)

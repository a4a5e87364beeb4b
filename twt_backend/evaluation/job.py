"""The `eval` job: a stage's student (0 = vanilla) or a baseline answers the test split;
per query the output, its token count, correctness and the prompt mode it was asked under
land in `eval_results` under the method's name (``stage0``..``stage4``, ``direct``, ``kd``,
``dss``), with its provenance (evaluation/provenance.py: adapter hash, base model, prompt
mode, generation settings). Resumable: a query with a result of the same method and the
same provenance is skipped; one of another provenance (a retrained adapter, another prompt
mode, base model or generation setting) is asked again and replaced.

A stage is asked, by default, in the prompt mode it was trained with (the vanilla student
and the direct baseline need no training: the project's prompt mode, and "direct"). Asked
in another mode (``--prompt-mode``), its results are stored as ``stage{N}@{mode}``, beside
the default ones, so the two can be compared.

Config: ``{"stage": N}`` or ``{"baseline": "direct" | "kd" | "dss"}``, plus "split",
"limit", "student", "adapter", "nproc", "generation", "prompt_mode" and "method".
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from twt_backend.artifacts import Target, trained_prompt_mode
from twt_backend.config import GenerationConfig, TrainingConfig
from twt_backend.errors import UsageError
from twt_backend.evaluation.judge import judge_outputs
from twt_backend.evaluation.provenance import Provenance, make_provenance
from twt_backend.evaluation.runner import (
    Item,
    adapter_for,
    job_engine,
    launch_shards,
    run_items,
    student_name,
)
from twt_backend.jobs import JobContext
from twt_backend.settings import load_config, with_overrides
from twt_backend.store import Project, utcnow
from twt_backend.student_prompt import inference_prompt
from twt_backend.tasks import get_task
from twt_backend.tasks.base import DIRECT, PROMPT_MODES

OWN_PROMPTS = {DIRECT: DIRECT, "dss": "dss"}  # baselines asked in their own format only


def method_name(stage: Target) -> str:
    """The eval_results method of a stage (``stage{N}``) or a baseline (its name)."""
    return stage if isinstance(stage, str) and not stage.isdigit() else f"stage{int(stage)}"


def eval_target(config: dict[str, Any]) -> Target:
    """What an eval job evaluates: the baseline it names, else its stage."""
    return str(config["baseline"]) if config.get("baseline") else int(config["stage"])


def n_stages(project: Project) -> int:
    return int(project.get_meta("n_stages") or 3)


def default_prompt_mode(project: Project, target: Target) -> str:
    """The prompt mode a stage or baseline is asked in unless told otherwise: the one it
    was trained with; for an untrained student, the project's (direct, dss: their own)."""
    if target in OWN_PROMPTS:
        return OWN_PROMPTS[str(target)]
    trained = None if target == 0 else trained_prompt_mode(project.root, target)
    return trained or load_config(project, TrainingConfig).prompt_mode


def eval_method(
    project: Project, target: Target, prompt_mode: str | None = None
) -> tuple[str, str]:
    """(stored method name, prompt mode) of an evaluation; UsageError on a mode that
    does not apply. A non-default prompt mode gets its own name, ``stage{N}@{mode}``."""
    default = default_prompt_mode(project, target)
    if prompt_mode is None or prompt_mode == default:
        return method_name(target), default
    if target in OWN_PROMPTS:
        raise UsageError(f"--prompt-mode: {method_name(target)} is asked in its own format only")
    if prompt_mode not in PROMPT_MODES:
        raise UsageError(f"--prompt-mode: {prompt_mode!r} is not one of {', '.join(PROMPT_MODES)}")
    return f"{method_name(target)}@{prompt_mode}", prompt_mode


def job_method(project: Project, config: dict[str, Any]) -> tuple[str, str]:
    """(method, prompt mode) of an eval job config: as recorded, else the defaults (the
    pipeline's checks pass only stage, split and limit; old jobs name "mode")."""
    prompt_mode = config.get("prompt_mode") or config.get("mode")
    if config.get("method") and prompt_mode:
        return str(config["method"]), str(prompt_mode)
    return eval_method(project, eval_target(config), prompt_mode)


def job_provenance(
    project: Project, config: dict[str, Any], engine: str | None = None
) -> Provenance:
    """What the outputs of an eval job config are produced by; a config without student,
    adapter or generation settings (the pipeline's checks) gets what `eval_job_config`
    would give it."""
    target = eval_target(config)
    _, prompt_mode = job_method(project, config)
    if "adapter" in config:
        adapter = config["adapter"]
    else:
        try:
            adapter = adapter_for(project, target)
        except UsageError:  # not trained: nothing can match
            adapter = None
    student = config.get("student") or _local_or_name(
        trained_student(project, target) or student_name(project)
    )
    generation = config.get("generation") or dataclasses.asdict(
        load_config(project, GenerationConfig)
    )
    return make_provenance(adapter, student, prompt_mode, generation, engine)


def eval_items(
    project: Project, config: dict[str, Any], provenance: Provenance | None = None
) -> list[Item]:
    """Queries of the split still without a result for this method of this provenance
    (default: `job_provenance` of the config), in id order."""
    task = get_task(project.task)
    target = eval_target(config)
    method, prompt_mode = job_method(project, config)
    provenance = provenance or job_provenance(project, config)
    stages = n_stages(project)
    limit = config.get("limit")
    rows = project.rows(
        "SELECT id, payload, reference FROM queries WHERE split=? ORDER BY id"
        + (" LIMIT ?" if limit else ""),
        (config.get("split", "test"), limit) if limit else (config.get("split", "test"),),
    )
    done = {
        r["query_id"]
        for r in project.rows(
            "SELECT query_id FROM eval_results WHERE method=? AND provenance=?",
            (method, provenance.key),
        )
    }
    items = []
    for row in rows:
        if row["id"] in done:
            continue
        payload = json.loads(row["payload"])
        prompt = inference_prompt(task, payload, target, stages, prompt_mode)
        items.append(Item(row["id"], prompt, payload, row["reference"]))
    return items


def make_writer(  # type: ignore[no-untyped-def]
    method: str, job_id: int, task_name: str, provenance: Provenance
):
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
                "tokens, correct, prompt_mode, adapter_sha256, base_model, generation, "
                "provenance, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        method,
                        i.query_id,
                        job_id,
                        c.text,
                        v.answer,
                        c.tokens,
                        int(v.correct),
                        provenance.prompt_mode,
                        *provenance.columns(),
                        now,
                    )
                    for i, c, v in zip(items, completions, verdicts, strict=True)
                ],  # fmt: skip
            )

    return write


def trained_student(project: Project, target: Target) -> str | None:
    """The base model a stage or baseline was trained on (its run config), if recorded."""
    from twt_backend.artifacts import run_config_path

    if target in (0, DIRECT):
        return None
    path = run_config_path(project.root, target)
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8")).get("student_path")


def eval_job_config(
    project: Project,
    target: Target,
    split: str = "test",
    limit: int | None = None,
    student: str | None = None,
    nproc: int = 1,
    generation: dict[str, Any] | None = None,
    prompt_mode: str | None = None,
) -> dict[str, Any]:
    """A checked eval job config for a stage (0 = vanilla) or a baseline, as the CLI and
    the GUI start it; UsageError when the split is empty, the adapter is not trained or
    the prompt mode does not apply (None: the stage's own, see `default_prompt_mode`)."""
    if not project.scalar("SELECT COUNT(*) FROM queries WHERE split=?", (split,)):
        raise UsageError(
            f"{project.root}: no queries in split {split!r}; import a test "
            "split with `twt import DIR FILE --split test`"
        )
    method, mode = eval_method(project, target, prompt_mode)
    adapter = adapter_for(project, target)
    base = student or trained_student(project, target) or student_name(project)
    settings = with_overrides(load_config(project, GenerationConfig), generation or {})
    config: dict[str, Any] = (
        {"baseline": target}
        if isinstance(target, str) and not target.isdigit()
        else {"stage": int(target)}
    )
    return {
        **config,
        "method": method,
        "prompt_mode": mode,
        "split": split,
        "limit": limit,
        "student": _local_or_name(base),
        "adapter": str(adapter) if adapter else None,
        "nproc": nproc,
        "generation": dataclasses.asdict(settings),
    }


def _local_or_name(student: str) -> str:
    """A folder as an absolute path; a name as is (the worker resolves it, converting
    SmolLM2 on first use, so starting a job never waits for that)."""
    path = Path(student).expanduser()
    return str(path.resolve()) if path.is_dir() else student


def summary(project: Project, method: str, provenance: Provenance | None = None) -> dict[str, Any]:
    """Accuracy and mean tokens of a method's results (of one provenance when given)."""
    row = project.rows(
        "SELECT COUNT(*) AS n, COALESCE(SUM(correct), 0) AS correct, AVG(tokens) AS mean_tokens "
        "FROM eval_results WHERE method=? AND (? IS NULL OR provenance=?)",
        (method, provenance and provenance.key, provenance and provenance.key),
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
    method, prompt_mode = job_method(project, ctx.config)
    config = {**ctx.config, "method": method, "prompt_mode": prompt_mode}
    provenance = job_provenance(project, config, job_engine(ctx))
    items = eval_items(project, config, provenance)
    nproc = int(ctx.config.get("nproc", 1))
    if nproc > 1 and world_size == 1:
        launch_shards(ctx, nproc)
    elif items:
        writer = make_writer(method, ctx.job_id, project.task, provenance)
        run_items(ctx, items, writer, method, rank, world_size)
    if rank == 0:
        result = summary(project, method, provenance)
        # queries this job was asked for that still have no result (the job process only:
        # a shard's rank 0 ends before the other shards have written theirs)
        failed = len(eval_items(project, config, provenance)) if world_size == 1 else 0
        ctx.progress(
            force=True,
            bars={method: {"done": result["n"], "total": result["n"] + failed, "failed": failed}},
            message=f"{method}: accuracy {result['accuracy']:.3f} on {result['n']} "
            f"queries, {result['mean_output_tokens']:.1f} output tokens",
            errors={method: f"{failed} queries without a result"} if failed else {},
        )
        ctx.event("eval_summary", **result)

"""Teacher-guided compression between HaRD stages (`twt refine`, the "refine" job).

Round N (1: before stage 2; 2: the four-stage variant's extra round before stage 3)
gives every sample of G a compressed rationale r^T in `refinements`, beside the
original, with token counts of both (see `tokens.TokenCounter`):

* `teacher` (the paper's method): the sample's own teacher (or `teacher`) rewrites its
  rationale towards the stage-N student's answer to the same query;
* `compressor`: the same teacher shortens the rationale without seeing the student;
* `fixed-length`: the first `fixed_length_tokens` tokens of the rationale, no request.

Requests go through the labelling engine (purpose `refine` or `compress`): concurrency,
rate limits, retries, cost ledger, cache and resume come with it. Rows are written when
the engine ends (also on cancel); unanswered targets stay `pending`, failed requests
`failed`, and both are asked again by the next run. See `refine_plan` for what a rerun
does with existing rows; manual edits and accept/reject decisions are never touched.

The teacher method needs the stage-N student's answers: when some are missing, the job
first runs an "infer" child job for them (visible in the job list, cancellable with it).
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twt_backend.config import GenerationConfig, RefineConfig, TrainingConfig, from_dict
from twt_backend.generation import LabelOptions, ProgressFn, Summary, label
from twt_backend.hard.refine_plan import RefinePlan, Target, plan_round
from twt_backend.hard.tokens import TokenCounter
from twt_backend.jobs import JobCancelled, JobContext
from twt_backend.store import Project, refinements_repo, utcnow
from twt_backend.store.backup import backup_project

ENGINE_KEYS = ("budget_usd", "backoff_initial_s", "backoff_max_s", "flush_s", "progress_s")
JOB_KEYS = ("round", "student", "nproc", "generation", "n_stages", *ENGINE_KEYS)


@dataclass
class RefineResult:
    round: int
    method: str
    counts: dict[str, int]  # refinement status of the round's targets -> count
    sent: int  # requests sent (answered or failed)
    cached: int  # requests answered before this run
    protected: int  # rows kept as they were (accepted, rejected, edited)
    without_student_output: int
    spent_usd: float
    stopped: str | None
    counter: str
    errors: dict[str, str] = dataclasses.field(default_factory=dict)  # "teacher N" -> 1st error

    @property
    def message(self) -> str:
        parts = ", ".join(f"{n} {status}" for status, n in sorted(self.counts.items()))
        text = (
            f"refinement round {self.round} ({self.method}): {parts or 'nothing to do'}; "
            f"{self.sent} request(s) sent, {self.cached} cached, cost ${self.spent_usd:.4f}"
        )
        if self.protected:
            text += f"; {self.protected} reviewed row(s) kept"
        if self.without_student_output:
            text += f"; {self.without_student_output} sample(s) without a student answer"
        if self.stopped:
            text += f"; {self.stopped}"
        return text


def split_config(config: dict[str, Any]) -> tuple[RefineConfig, dict[str, Any]]:
    """A job config's RefineConfig fields and its other (job) keys, validated."""
    names = {f.name for f in dataclasses.fields(RefineConfig)}
    refine = from_dict(RefineConfig, {k: v for k, v in config.items() if k in names})
    extra = {k: v for k, v in config.items() if k not in names}
    from_dict(_JobKeys, extra)  # refuses unknown keys
    return refine, extra


@dataclass
class _JobKeys:
    round: int = 1
    student: str | None = None
    nproc: int = 1
    generation: dict[str, Any] | None = None
    n_stages: int | None = None
    budget_usd: float | None = None
    backoff_initial_s: float | None = None
    backoff_max_s: float | None = None
    flush_s: float | None = None
    progress_s: float | None = None


def stage_student_path(project: Project, stage: int) -> str | None:
    """The base model a stage was trained on (from its run config), when known."""
    path = project.artifacts / "stages" / f"stage{stage}" / "run_config.json"
    if not path.is_file():
        return None
    return str(json.loads(path.read_text(encoding="utf-8")).get("student_path") or "") or None


def token_counter(project: Project, round_: int, student: str | None = None) -> TokenCounter:
    from twt_backend.evaluation.runner import student_name
    from twt_backend.models import resolve_student

    path = stage_student_path(project, round_) or student
    if path is None:
        name = student_name(project)
        path = resolve_student(name) if Path(name).expanduser().is_dir() else None
    return TokenCounter.for_student(path)


def _engine_options(plan: RefinePlan, extra: dict[str, Any]) -> LabelOptions:
    values = {k: extra[k] for k in ENGINE_KEYS if extra.get(k) is not None}
    return LabelOptions(teachers=plan.teacher_names, **values)


def refine(
    project_dir: str | Path,
    cfg: RefineConfig,
    round_: int = 1,
    extra: dict[str, Any] | None = None,
    job_id: int | None = None,
    on_progress: ProgressFn | None = None,
    cancelled: threading.Event | None = None,
) -> RefineResult:
    """Plan the round, send what is not cached through the engine, write the rows."""
    extra = extra or {}
    with Project.open(project_dir) as project:
        plan = plan_round(project, round_, cfg)
        counter = token_counter(project, round_, extra.get("student"))
    summary = None
    if plan.to_send:
        summary = label(
            project_dir,
            _engine_options(plan, extra),
            job_id,
            on_progress,
            cancelled,
            planner=lambda _p, tid, _c: (plan.items.get(tid, []), plan.cached.get(tid, 0)),
            label=f"refinement round {round_}",
        )
    with Project.open(project_dir) as project:
        if project.scalar("SELECT 1 FROM refinements WHERE round = ? LIMIT 1", (round_,)):
            backup_project(project, f"before-refinement-rerun-round-{round_}")
        counts = write_rows(project, plan, counter, cfg)
    return RefineResult(
        round=round_,
        method=cfg.method,
        counts=counts,
        sent=_sent(summary, plan) if summary else 0,
        cached=sum(plan.cached.values()),
        protected=plan.protected,
        without_student_output=plan.without_student_output,
        spent_usd=summary.spent_usd if summary else 0.0,
        stopped=summary.stopped if summary else None,
        counter=counter.name,
        errors=summary.errors if summary else {},
    )


def _sent(summary: Summary, plan: RefinePlan) -> int:
    finished = sum(bar["done"] + bar["failed"] for bar in summary.bars.values())
    return int(finished) - sum(plan.cached.values())


Answers = dict[tuple[int | None, str | None], dict[str, Any]]


def _answers(project: Project, plan: RefinePlan) -> Answers:
    keys = {(t.teacher_id, t.key) for t in plan.targets if t.key is not None}
    answers: Answers = {}
    for teacher_id in {tid for tid, _ in keys}:
        for row in project.rows(
            "SELECT id, request_hash, status, rationale, parse_status FROM generations "
            "WHERE teacher_id = ? AND purpose IN ('refine', 'compress')",
            (teacher_id,),
        ):
            if (teacher_id, row["request_hash"]) in keys:
                answers[(teacher_id, row["request_hash"])] = row
    return answers


def _row(
    target: Target, answer: dict[str, Any] | None, counter: TokenCounter, cfg: RefineConfig
) -> tuple[int | None, str | None, str]:
    """(refine generation id, refined text, status) of one unsettled target."""
    if cfg.method == "fixed-length":
        return None, counter.truncate(target.source, cfg.fixed_length_tokens), "ok"
    if answer is None:
        return None, None, "pending"
    if answer["status"] != "ok" or not answer["rationale"]:
        return answer["id"], answer["rationale"], "failed"
    return answer["id"], answer["rationale"], "ok"


def write_rows(
    project: Project, plan: RefinePlan, counter: TokenCounter, cfg: RefineConfig
) -> dict[str, int]:
    """Upsert the rows of the round's unsettled targets; returns the round's status counts."""
    answers = _answers(project, plan)
    now = utcnow()
    rows = []
    for target in plan.targets:
        if target.settled:
            continue
        answer = answers.get((target.teacher_id, target.key)) if target.key else None
        refine_id, text, status = _row(target, answer, counter, cfg)
        rows.append(
            (
                target.sample["generation_id"], plan.round, cfg.method, target.student_output,
                refine_id, text, status, counter.count(target.source), counter.count(text), now,
                now,
            )
        )  # fmt: skip
    return refinements_repo.write_round(project, plan.round, rows)


# ---- the job ---------------------------------------------------------------------------------
def ensure_student_outputs(ctx: JobContext, round_: int, extra: dict[str, Any]) -> None:
    """Run an "infer" child job when some sample of G has no stage-N student answer."""
    from twt_backend.hard.child_jobs import run_child
    from twt_backend.hard.inference import config_provenance, infer_items

    config = infer_config(ctx.project, round_, extra)
    provenance = config_provenance(config)
    if not infer_items(ctx.project, round_, config["mode"], config["prompt_mode"], provenance):
        return
    ctx.log(f"stage-{round_} student answers missing: running the student first")

    def mirror(job: dict[str, Any]) -> None:
        ctx.progress(**{**job["progress"], "message": f"student answers (job {job['id']})"})

    run_child(ctx, "infer", config, f"student answers stage {round_}", on_progress=mirror)


def stage_prompt_mode(project: Project, stage: int) -> str:
    """The prompt mode stage N was trained with (else the project's): its student answers
    are asked the same way."""
    from twt_backend.artifacts import trained_prompt_mode
    from twt_backend.settings import load_config

    return (
        trained_prompt_mode(project.root, stage) or load_config(project, TrainingConfig).prompt_mode
    )


def infer_config(project: Project, stage: int, extra: dict[str, Any]) -> dict[str, Any]:
    """The "infer" job config of the stage-N student (the base model it was trained on)."""
    from twt_backend.evaluation.runner import adapter_for, student_name
    from twt_backend.models import resolve_student
    from twt_backend.settings import load_config, with_overrides
    from twt_backend.tasks import mode_for_stage

    n_stages = int(extra.get("n_stages") or project.get_meta("n_stages") or 3)
    student = stage_student_path(project, stage) or resolve_student(
        student_name(project, extra.get("student"))
    )
    generation = with_overrides(
        load_config(project, GenerationConfig), extra.get("generation") or {}
    )
    return {
        "stage": stage,
        "mode": mode_for_stage(stage, n_stages),
        "prompt_mode": stage_prompt_mode(project, stage),
        "student": student,
        "adapter": str(adapter_for(project, stage)),
        "generation": dataclasses.asdict(generation),
        "nproc": int(extra.get("nproc") or 1),
    }


def run_job(ctx: JobContext) -> None:
    """Worker entry of a "refine" job: RefineConfig fields plus `round` and job keys."""
    cfg, extra = split_config(ctx.config)
    round_ = int(extra.get("round", 1))
    started = time.monotonic()
    if cfg.method == "teacher":
        ensure_student_outputs(ctx, round_, extra)
    ctx.check_cancelled()
    ctx.progress(force=True, message=f"refinement round {round_} ({cfg.method})")

    def progress(snapshot: dict[str, Any]) -> None:
        ctx.progress(force="stopped" in snapshot, **snapshot)

    result = refine(ctx.project_dir, cfg, round_, extra, ctx.job_id, progress, ctx.cancelled)
    ctx.event(
        "refine_done",
        **dataclasses.asdict(result),
        seconds=round(time.monotonic() - started, 2),
    )
    total = sum(result.counts.values())
    failed = result.counts.get("failed", 0)
    done = total - result.counts.get("pending", 0) - failed
    ctx.progress(
        force=True,
        bars={f"refinement round {round_}": {"done": done, "total": total, "failed": failed}},
        message=result.message,
        errors=result.errors,
    )
    ctx.log(f"{result.message} (token counts: {result.counter})")
    if result.stopped == "cancelled" or ctx.cancelled.is_set():
        raise JobCancelled()

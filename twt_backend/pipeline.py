"""The whole TwT pipeline as one resumable "pipeline" job (`twt run`).

labelling -> selection -> stage 1 -> [stage-k student answers -> refinement round k ->
stage k+1, for each compressed stage] -> last stage (answer only) -> evaluation of
stages 0..N on the test split (when the project has one).

Each step runs as its own child job (see `hard.child_jobs`), so the GUI and `twt runs`
show it like a job started by hand; a step the store says is finished is skipped (see
`hard.steps`), so running the pipeline again resumes where it stopped and a finished
project runs nothing. A cancel (SIGINT) cancels the running step and stops.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

from twt_backend.config import from_dict
from twt_backend.errors import TwtError, UsageError
from twt_backend.generation import LabelOptions
from twt_backend.hard import steps as st
from twt_backend.hard.child_jobs import run_child
from twt_backend.jobs import JobContext
from twt_backend.store import Project

Options = st.PipelineOptions


@dataclass
class Step:
    name: str
    kind: str
    pending: Callable[[Project], bool]  # True while the step has work left
    config: Callable[[Project], dict[str, Any]]


def build_steps(project: Project, options: Options) -> list[Step]:
    n = options.n_stages
    stages = options.trained_stages()
    plan = [
        Step("labelling", "generate", lambda p: st.labels_pending(p) > 0,
             lambda p: asdict(LabelOptions())),
    ] if options.label else []  # fmt: skip
    plan += [
        Step("selection", "select", lambda p: not st.selection_current(p), st.selection_config),
        _train(options, 1),
    ]  # fmt: skip
    for k in range(1, n - 1):
        if k + 1 not in stages:
            continue  # a skipped compression stage: no answers, no rewrites, no training
        plan += [
            Step(f"student answers stage {k}", "infer",
                 partial(st.answers_missing, options=options, stage=k),
                 partial(st.student_answers_config, options=options, stage=k)),
            Step(f"refinement round {k}", "refine",
                 partial(st.refinement_pending, options=options, round_=k),
                 partial(st.refine_config, options=options, round_=k)),
            _train(options, k + 1),
        ]  # fmt: skip
    plan.append(_train(options, n))
    if options.evaluate and st.test_split_size(project):
        plan += [
            Step(f"eval stage {s}", "eval", partial(st.eval_missing, options=options, stage=s),
                 partial(st.eval_config, options=options, stage=s))
            for s in [0, *stages]
        ]  # fmt: skip
    return plan


def _train(options: Options, stage: int) -> Step:
    return Step(
        f"train stage {stage}",
        "train",
        lambda p: not st.stage_trained(p, stage),
        lambda p: st.train_config(p, options, stage),
    )


def options_from(config: dict[str, Any]) -> Options:
    options = from_dict(Options, config)
    if options.n_stages not in (3, 4):
        raise UsageError(f"n_stages: {options.n_stages} is not 3 or 4")
    if options.nproc < 1:
        raise UsageError("nproc: must be at least 1")
    for stage in options.skip_stages:
        if not 1 < stage < options.n_stages:
            raise UsageError(
                f"skip stage {stage}: only a compressed stage (2..{options.n_stages - 1}) can "
                "be left out"
            )
    for stage in options.trained_stages()[1:-1]:
        if stage - 1 not in options.trained_stages():
            raise UsageError(
                f"stage {stage} rewrites towards stage {stage - 1}'s answers: skip both or neither"
            )
    return options


def _after(ctx: JobContext, step: Step) -> None:
    """Checks between steps that turn a confusing later failure into a clear one."""
    project = ctx.project
    if step.kind == "generate" and st.labels_pending(project):
        ctx.log("some label requests still failed; continuing with the answers there are")
    if step.kind == "refine":
        unsettled = project.scalar(
            "SELECT COUNT(*) FROM refinements WHERE round=? AND status IN ('pending', 'failed')",
            (step.config(project)["round"],),
        )
        if unsettled:
            ctx.log(f"{unsettled} refinement(s) failed or unanswered; the next stage skips them")
    if step.kind == "select":
        from twt_backend.selection.samples import effective_samples

        if not effective_samples(project):
            raise TwtError(
                "the selection kept no sample: lower the threshold (`twt select --threshold`) "
                "or accept samples by hand, then run again"
            )


def run_job(ctx: JobContext) -> None:
    """Worker entry of a "pipeline" job: ctx.config holds PipelineOptions as a dict."""
    options = options_from(ctx.config)
    project = ctx.project
    with project.transaction():
        project.set_meta("n_stages", str(options.n_stages))
    plan = build_steps(project, options)
    states: list[dict[str, Any]] = [{"name": s.name, "status": "pending"} for s in plan]
    started = time.monotonic()

    def show(index: int, message: str, bars: dict[str, Any] | None = None) -> None:
        done = sum(s["status"] in ("done", "skipped") for s in states)
        ctx.progress(
            steps=states,
            bars={"pipeline": {"done": done, "total": len(plan)}, **(bars or {})},
            message=f"[{index + 1}/{len(plan)}] {plan[index].name}: {message}",
        )

    for index, step in enumerate(plan):
        ctx.check_cancelled()
        if not step.pending(project):
            states[index]["status"] = "skipped"
            continue
        states[index]["status"] = "running"
        ctx.log(f"step {step.name}: starting")

        def mirror(job: dict[str, Any], index: int = index) -> None:
            states[index]["job_id"] = job["id"]
            progress = job["progress"]
            show(index, str(progress.get("message") or job["status"]), progress.get("bars"))

        job = run_child(ctx, step.kind, step.config(project), step.name, mirror)
        states[index].update(status="done", job_id=job["id"])
        _after(ctx, step)
    ran = [s["name"] for s in states if s["status"] == "done"]
    message = (
        f"pipeline finished in {time.monotonic() - started:.0f} s: ran {', '.join(ran)}"
        if ran
        else "pipeline: every step was already finished"
    )
    ctx.progress(
        force=True,
        steps=states,
        bars={"pipeline": {"done": len(plan), "total": len(plan)}},
        message=message,
    )
    ctx.log(message)

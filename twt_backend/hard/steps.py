"""The steps of the whole pipeline (`twt run`): the child job each runs, and when the store
says it is finished (so a rerun skips it).

* labelling: every enabled teacher has an ok answer for every train query;
* selection: the last selection ran after the last label answer, with today's settings;
* stage N training: the stage's adapter exists and its latest train job finished;
* student answers of stage N: every query of G has one;
* refinement round N: no target is unsettled (see `refine_plan`);
* evaluation of stage N: every test query (up to `limit`) has a result.

Finished steps are not redone when something upstream changes (a retrained stage does not
invalidate the answers of the next): run the single command (`twt train`, `twt refine`...)
to redo one.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from twt_backend import artifacts as train_paths
from twt_backend import jobs
from twt_backend.config import (
    GenerationConfig,
    RefineConfig,
    SelectionConfig,
)
from twt_backend.errors import UsageError
from twt_backend.generation import LabelOptions, load_teachers, query_planner
from twt_backend.hard.refine import infer_config, stage_student_path
from twt_backend.hard.refine_plan import plan_round
from twt_backend.models import resolve_student
from twt_backend.selection.run import LAST_RUN_META
from twt_backend.settings import load_config, with_overrides
from twt_backend.store import Project, jobs_repo


@dataclass
class PipelineOptions:
    n_stages: int = field(default=3, metadata={"help": "3 stages, or 4 (extra compression)."})
    student: str | None = field(default=None, metadata={"help": "Student model (project's)."})
    training: dict[str, Any] = field(default_factory=dict)  # TrainingConfig overrides
    lora: dict[str, Any] = field(default_factory=dict)  # LoraConfig overrides
    launch: dict[str, Any] = field(default_factory=dict)  # LaunchConfig overrides
    generation: dict[str, Any] = field(default_factory=dict)  # GenerationConfig overrides
    refine: dict[str, Any] = field(default_factory=dict)  # RefineConfig overrides
    nproc: int = field(default=1, metadata={"help": "Processes (GPUs) per step."})
    limit: int | None = field(default=None, metadata={"help": "Evaluate at most N queries."})
    evaluate: bool = field(default=True, metadata={"help": "Evaluate stages 0..N on test."})
    skip_stages: list[int] = field(
        default_factory=list,
        metadata={"help": "Compressed stages to leave out (the paper's Table 7: 1 then 3)."},
    )
    label: bool = field(default=True, metadata={"help": "Label with the teachers first."})

    def trained_stages(self) -> list[int]:
        """The stages this pipeline trains, in order (every stage unless skipped)."""
        return [s for s in range(1, self.n_stages + 1) if s not in self.skip_stages]

    def previous_stage(self, stage: int) -> int | None:
        """The trained stage this one starts from (None for stage 1)."""
        before = [s for s in self.trained_stages() if s < stage]
        return before[-1] if before else None


# ---- labelling and selection --------------------------------------------------------------------
def labels_pending(project: Project) -> int:
    planner = query_planner(LabelOptions())
    return sum(len(planner(project, tid, cfg)[0]) for tid, cfg in load_teachers(project))


def selection_config(project: Project) -> dict[str, Any]:
    return dataclasses.asdict(load_config(project, SelectionConfig))


def selection_current(project: Project) -> bool:
    last = json.loads(project.get_meta(LAST_RUN_META) or "null")
    if not last or last.get("config") != selection_config(project):
        return False
    latest = jobs_repo.latest_label_time(project)  # of train queries only
    return latest is None or str(last.get("at", "")) >= str(latest)


# ---- training ---------------------------------------------------------------------------------
def train_config(project: Project, options: PipelineOptions, stage: int) -> dict[str, Any]:
    """The "train" job config of a stage (`ops.training.train_config`, the one `twt train`
    and the app use): the project's saved settings, then the pipeline's overrides."""
    from twt_backend.training.job_config import train_config as build

    training = {**options.training, **({"student": options.student} if options.student else {})}
    launch = {**options.launch, **({"nproc": options.nproc} if options.nproc > 1 else {})}
    overrides = {"training": training, "lora": options.lora, "launch": launch}
    config = build(project, stage, overrides, options.n_stages)
    previous = options.previous_stage(stage)
    if previous is not None and previous != stage - 1:  # a skipped stage (no compression)
        config["init_from"] = previous
    return config


def stage_trained(project: Project, stage: int) -> bool:
    if not train_paths.stage_finished(project.root, stage):
        return False
    latest = jobs_repo.latest_with_lock(project, "train", f"train:{stage}")
    if latest is None:
        return True  # an adapter from elsewhere (copied in): trust it
    return bool(jobs.get_job(project, latest)["status"] == "finished")


# ---- student answers, refinement, evaluation -------------------------------------------------------
def job_extra(options: PipelineOptions) -> dict[str, Any]:
    return {
        "n_stages": options.n_stages,
        "nproc": options.nproc,
        "student": options.student,
        "generation": options.generation,
    }


def student_answers_config(
    project: Project, options: PipelineOptions, stage: int
) -> dict[str, Any]:
    return infer_config(project, stage, job_extra(options))


def answers_missing(project: Project, options: PipelineOptions, stage: int) -> bool:
    from twt_backend.hard.inference import config_provenance, infer_items
    from twt_backend.hard.refine import stage_prompt_mode
    from twt_backend.tasks import mode_for_stage

    if refine_settings(project, options).method != "teacher":
        return False  # only the teacher method rewrites towards the student's answers
    try:  # the answers of the job this step would start (its provenance)
        config = student_answers_config(project, options, stage)
    except UsageError:  # stage not trained: every answer is missing
        mode = mode_for_stage(stage, options.n_stages)
        return bool(infer_items(project, stage, mode, stage_prompt_mode(project, stage)))
    provenance = config_provenance(config)
    return bool(infer_items(project, stage, config["mode"], config["prompt_mode"], provenance))


def refine_settings(project: Project, options: PipelineOptions) -> RefineConfig:
    return with_overrides(load_config(project, RefineConfig), options.refine)


def refine_config(project: Project, options: PipelineOptions, round_: int) -> dict[str, Any]:
    extra = {k: v for k, v in job_extra(options).items() if v not in (None, {})}
    return {**dataclasses.asdict(refine_settings(project, options)), **extra, "round": round_}


def refinement_pending(project: Project, options: PipelineOptions, round_: int) -> bool:
    plan = plan_round(project, round_, refine_settings(project, options))
    return bool(plan.pending or plan.without_student_output)


def test_split_size(project: Project) -> int:
    return jobs_repo.queries_in_split(project, "test")


def eval_config(project: Project, options: PipelineOptions, stage: int) -> dict[str, Any]:
    from twt_backend.evaluation.job import eval_method
    from twt_backend.evaluation.runner import adapter_for, student_name

    generation = with_overrides(load_config(project, GenerationConfig), options.generation)
    base = resolve_student(student_name(project, options.student))
    adapter = adapter_for(project, stage)
    method, prompt_mode = eval_method(project, stage)
    return {
        "stage": stage,
        "method": method,
        "prompt_mode": prompt_mode,
        "split": "test",
        "limit": options.limit,
        "student": (stage_student_path(project, stage) if stage else None) or base,
        "adapter": str(adapter) if adapter else None,
        "nproc": options.nproc,
        "generation": dataclasses.asdict(generation),
    }


def eval_missing(project: Project, options: PipelineOptions, stage: int) -> bool:
    from twt_backend.evaluation.job import eval_items

    try:  # the results of the job this step would start (its provenance)
        config = eval_config(project, options, stage)
    except UsageError:  # not trained
        config = {"stage": stage, "split": "test", "limit": options.limit}
    return bool(eval_items(project, config))

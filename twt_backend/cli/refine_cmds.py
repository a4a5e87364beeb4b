"""`twt refine`: teacher-guided compression of the distillation set, as a job in the foreground.

The project's saved RefineConfig (GUI Setup page) gives the defaults; flags override it for
this run. With the teacher method the stage-N student's answers are needed: the job runs
the student first where they are missing (stage N must be trained).
"""

from __future__ import annotations

import argparse
import dataclasses
import json

from twt_backend.cli.flags import Flags, add_flags
from twt_backend.config import GenerationConfig, RefineConfig, TrainingConfig, finite_float
from twt_backend.errors import UsageError
from twt_backend.store import Project

# The config fields `twt refine` takes as flags (unset: the project's setting).
REFINE_FLAGS = (
    Flags(RefineConfig),  # --method, --teacher, --fixed-length-tokens
    Flags(
        TrainingConfig,
        only=("student",),
        helps={"student": "Student model for the answers (default: the stage's)."},
    ),
    Flags(GenerationConfig, only=("max_new_tokens", "engine")),  # the student's answers
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "refine",
        help="Compress the rationales of the distillation set towards the student (resumable).",
        description="Round N rewrites each selected sample's rationale towards the stage-N "
        "student's own answer (round 1 before stage 2; round 2 is the four-stage variant's "
        "extra round). Cached requests are not sent again; reviewed rows are kept.",
    )
    parser.add_argument("dir", help="Project folder.")
    add_flags(parser, *REFINE_FLAGS)
    parser.add_argument("--round", type=int, default=1, choices=(1, 2), help="Refinement round.")
    parser.add_argument("--nproc", type=int, default=1, help="Processes for the student answers.")
    parser.add_argument(
        "--budget", type=finite_float, dest="budget_usd", help="Stop at this spend (USD, > 0)."
    )
    parser.add_argument("--quiet", action="store_true", help="No progress display.")
    parser.add_argument("--json", action="store_true", help="Print the round's summary as JSON.")
    parser.set_defaults(func=_refine)


def refine_job_config(project: Project, args: argparse.Namespace) -> dict[str, object]:
    from twt_backend.settings import load_config, with_overrides

    cfg = with_overrides(
        load_config(project, RefineConfig),
        {
            "method": args.method,
            "teacher": args.teacher,
            "fixed_length_tokens": args.fixed_length_tokens,
        },
    )
    config: dict[str, object] = {**dataclasses.asdict(cfg), "round": args.round}
    if args.nproc != 1:
        config["nproc"] = args.nproc
    for key in ("student", "budget_usd"):
        if getattr(args, key) is not None:
            config[key] = getattr(args, key)
    generation = {"max_new_tokens": args.max_new_tokens, "engine": args.engine}
    if any(value is not None for value in generation.values()):
        config["generation"] = {k: v for k, v in generation.items() if v is not None}
    return config


def check_ready(project: Project, config: dict[str, object]) -> None:
    """Refuse before a job exists: no samples, or student answers that cannot be made."""
    from twt_backend.artifacts import stage_finished
    from twt_backend.hard.inference import infer_items
    from twt_backend.selection.samples import effective_samples

    round_ = int(config["round"])  # type: ignore[call-overload]
    if not effective_samples(project):
        raise UsageError(f"{project.root}: no selected samples; run `twt select` first")
    if config["method"] != "teacher" or stage_finished(project.root, round_):
        return
    if infer_items(project, round_):
        raise UsageError(
            f"the teacher method rewrites towards the stage-{round_} student's answers, and "
            f"stage {round_} is not trained: run `twt train {project.root} --stage {round_}` "
            "first (or use --method compressor or fixed-length)"
        )


def _refine(args: argparse.Namespace) -> int:
    from twt_backend import jobs
    from twt_backend.cli.follow import run_foreground
    from twt_backend.config import GenerationConfig
    from twt_backend.evaluation.vllm_server import check_engine
    from twt_backend.settings import load_config

    if args.nproc < 1:
        raise UsageError("--nproc: must be at least 1")
    with Project.open(args.dir) as project:
        config = refine_job_config(project, args)
        check_ready(project, config)
        check_engine(args.engine or load_config(project, GenerationConfig).engine)
        job_id = jobs.create_job(project, "refine", config, name=f"refine round {args.round}")
        code = run_foreground(project, job_id, quiet=args.quiet or args.json)
        if args.json:
            from twt_backend.ops.refinements import job_summary

            summary = job_summary(project, job_id)
            print(summary if summary is not None else json.dumps(None))
        return code

"""`twt eval`: a stage's student (0 = vanilla) or a trained baseline on the test split, as a
job in the foreground."""

from __future__ import annotations

import argparse

from twt_backend import jobs
from twt_backend.cli.flags import Flags, add_flags
from twt_backend.cli.follow import run_foreground
from twt_backend.config import GenerationConfig, TrainingConfig
from twt_backend.errors import UsageError
from twt_backend.store import Project
from twt_backend.tasks.base import PROMPT_MODES

# --method values: stage names, the baselines, and two aliases
METHODS = (
    "stage0", "stage1", "stage2", "stage3", "stage4", "vanilla", "sft", "direct", "kd", "dss"
)  # fmt: skip
ALIASES = {"vanilla": 0, "sft": 1}  # full-reasoning SFT only is HaRD stage 1 itself
# The config fields `twt eval` takes as flags (unset: the project's setting).
EVAL_FLAGS = (
    Flags(TrainingConfig, only=("student",)),
    Flags(GenerationConfig, only=("max_new_tokens", "batch_size", "temperature", "engine")),
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    ev = sub.add_parser(
        "eval",
        help="Evaluate a stage's student (0 = vanilla) or a baseline on the test split.",
        description="Results are stored per method: stage0..stage4, direct, kd, dss. The "
        "vanilla student (stage 0) is asked with the very prompt of the stages; direct is "
        "the untrained student told to answer without explanation. The full-reasoning SFT "
        "baseline is stage 1 (--method sft is --stage 1). Results under a prompt mode other "
        "than the stage's own are stored as stageN@MODE.",
    )
    ev.add_argument("dir", help="Project folder.")
    which = ev.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--stage",
        type=int,
        choices=range(0, 5),
        metavar="{0,1,2,3,4}",
        help="0 = vanilla student, 1..4 = after that stage.",
    )
    which.add_argument(
        "--method",
        choices=METHODS,
        help="A stage (stage0..stage4; vanilla = stage0, sft = stage1) or a baseline: "
        "direct (untrained, told to answer directly), kd (standard KD), dss (distilling "
        "step-by-step).",
    )
    which.add_argument(
        "--teacher",
        metavar="NAME",
        help="A teacher answers the split through the labelling engine (cached answers are "
        "reused); stored as method teacher:NAME, shown in reports like the paper's teacher "
        "rows and copied into every named run.",
    )
    ev.add_argument("--split", default="test", help="Query split to evaluate (default test).")
    ev.add_argument("--limit", type=int, help="Evaluate at most N queries.")
    add_flags(ev, *EVAL_FLAGS)
    ev.add_argument(
        "--nproc", type=int, default=1, help="Processes (one per GPU) sharing the work."
    )
    ev.add_argument(
        "--prompt-mode",
        choices=PROMPT_MODES,
        help="The instruction the student is asked with (default: the one the stage was "
        "trained with; for the vanilla student the project's): shared = one instruction for "
        "every stage; stage = each stage's own hint; full, compressed, answer = that hint "
        "whatever the stage.",
    )
    ev.add_argument(
        "--restart",
        action="store_true",
        help="A new evaluation job even when one of this method stopped unfinished.",
    )
    ev.set_defaults(func=_eval)


def eval_target(args: argparse.Namespace) -> int | str:
    """The stage number or baseline name that --stage / --method name."""
    if args.method is None:
        return int(args.stage)
    if args.method in ALIASES:
        return ALIASES[args.method]
    if args.method.startswith("stage"):
        return int(args.method.removeprefix("stage"))
    return str(args.method)


def _eval(args: argparse.Namespace) -> int:
    from twt_backend.ops.evaluation import start_eval

    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit: must be at least 1")
    if args.nproc < 1:
        raise UsageError("--nproc: must be at least 1")
    if args.teacher:
        return _eval_teacher(args)
    with Project.open(args.dir) as project:
        started = start_eval(
            project,
            eval_target(args),
            split=args.split,
            limit=args.limit,
            student=args.student,
            nproc=args.nproc,
            generation={
                "max_new_tokens": args.max_new_tokens,
                "batch_size": args.batch_size,
                "temperature": args.temperature,
                "engine": args.engine,
            },
            prompt_mode=args.prompt_mode,
            restart=args.restart,
        )
        if started.resumed:
            print(f"resuming job {started.job_id}: the queries it scored are kept")
        return run_foreground(project, started.job_id)


def _eval_teacher(args: argparse.Namespace) -> int:
    from twt_backend.evaluation import teacher_eval

    student_only = ("student", "max_new_tokens", "batch_size", "temperature", "engine")
    given = [f"--{f.replace('_', '-')}" for f in (*student_only, "prompt_mode") if getattr(args, f)]
    if given or args.nproc != 1:
        raise UsageError(
            f"--teacher: {', '.join(given) or '--nproc'} apply to a student; the teacher is "
            "asked with its labelling prompt and settings (`twt teacher add ... --replace`)"
        )

    with Project.open(args.dir) as project:
        config = teacher_eval.label_config(project, args.teacher, args.split, args.limit)
        job_id = jobs.create_job(project, "generate", config, name=f"eval teacher {args.teacher}")
        code = run_foreground(project, job_id)
        score = teacher_eval.store_scores(project, args.teacher, args.split, args.limit)
        teacher_eval.share_with_runs(project)
    print(score.message)
    return code

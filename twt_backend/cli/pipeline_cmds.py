"""`twt run`: the whole pipeline as one job in the foreground; resumable, skips finished steps.

Settings come from the project (GUI Setup page); the flags override them for this run.
Ctrl-C cancels the running step cleanly; `twt run` again resumes.
"""

from __future__ import annotations

import argparse
import json
import sys

from twt_backend.config import TrainingConfig, field_meta, finite_float
from twt_backend.errors import UsageError
from twt_backend.store import Project

TRAINING_FLAGS = {
    "epochs": finite_float,
    "max_steps": int,
    "batch_size": int,
    "lr": finite_float,
    "max_length": int,
}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "run",
        help="Run the whole pipeline (label, select, stages, refinement, eval); resumable.",
        description="labelling -> selection -> stage 1 -> student answers -> refinement -> "
        "stage 2 -> stage 3 (-> stage 4) -> evaluation of every stage on the test split. "
        "Each step is its own job; finished steps are skipped.",
    )
    parser.add_argument("dir", help="Project folder.")
    parser.add_argument(
        "--stages", type=int, choices=(3, 4), default=3, help="3 stages, or the four-stage variant."
    )
    parser.add_argument("--student", help="Student model folder or name (default: project's).")
    for name, kind in TRAINING_FLAGS.items():
        help_text = field_meta(TrainingConfig, name)["help"]
        parser.add_argument("--" + name.replace("_", "-"), type=kind, help=help_text)
    parser.add_argument("--lora-rank", type=int, help="LoRA rank r.")
    parser.add_argument("--nproc", type=int, default=1, help="Processes (GPUs) per step.")
    parser.add_argument("--limit", type=int, help="Evaluate at most N test queries per stage.")
    parser.add_argument("--max-new-tokens", type=int, help="Student answer length limit.")
    parser.add_argument(
        "--engine",
        choices=("hf", "vllm", "auto"),
        help="Engine of the student answers and evaluations (default: the project's).",
    )
    parser.add_argument(
        "--refine-method", choices=("teacher", "fixed-length", "compressor"), help="Refinement."
    )
    parser.add_argument("--no-eval", action="store_true", help="Skip the evaluation steps.")
    parser.add_argument("--quiet", action="store_true", help="No progress display.")
    parser.add_argument("--json", action="store_true", help="Print the final job row as JSON.")
    parser.add_argument(
        "--restart",
        action="store_true",
        help="A new pipeline job even when one with these options stopped unfinished "
        "(finished steps are still skipped).",
    )
    parser.set_defaults(func=_run)


def pipeline_options(args: argparse.Namespace) -> dict[str, object]:
    """The pipeline options of the flags (checked by `ops.pipeline.pipeline_config`)."""
    for flag in ("nproc", "limit", "max_new_tokens", "max_steps", "batch_size", "max_length"):
        value = getattr(args, flag)
        if value is not None and value < (1 if flag != "max_steps" else -1):
            raise UsageError(f"--{flag.replace('_', '-')}: {value} is too small")
    return {
        "n_stages": args.stages,
        "student": args.student,
        "training": {k: getattr(args, k) for k in TRAINING_FLAGS if getattr(args, k) is not None},
        "lora": {"rank": args.lora_rank} if args.lora_rank else {},
        "generation": {
            k: v for k, v in (("max_new_tokens", args.max_new_tokens), ("engine", args.engine)) if v
        },
        "refine": {"method": args.refine_method} if args.refine_method else {},
        "nproc": args.nproc,
        "limit": args.limit,
        "evaluate": not args.no_eval,
    }


def _run(args: argparse.Namespace) -> int:
    from twt_backend import jobs
    from twt_backend.cli.follow import FINISHED_WITH_FAILURES, run_foreground
    from twt_backend.ops.pipeline import start_pipeline, step_failures

    options = pipeline_options(args)
    with Project.open(args.dir) as project:
        started = start_pipeline(project, options, restart=args.restart)
        if started.resumed and not args.quiet:
            print(f"resuming pipeline job {started.job_id}: finished steps are skipped")
        code = run_foreground(project, started.job_id, quiet=args.quiet or args.json)
        failures = step_failures(project, started.job_id) if code == 0 else []
        for step in failures:
            first = "; ".join(f"{k}: {v}" for k, v in step.first_errors.items()) or "see its log"
            print(
                f"twt: step {step.name} (job {step.job_id}) finished with {step.failed} "
                f"failed item(s); first error: {first}",
                file=sys.stderr,
            )
        if args.json:
            print(json.dumps(jobs.get_job(project, started.job_id), sort_keys=True, default=str))
        return FINISHED_WITH_FAILURES if failures else code

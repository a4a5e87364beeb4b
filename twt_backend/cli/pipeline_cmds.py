"""`twt run`: the whole pipeline as one job in the foreground; resumable, skips finished steps.
`twt variants DIR`: the project's named runs.

Settings come from the project (GUI Setup page); the flags override them for this run.
Ctrl-C cancels the running step cleanly; `twt run` again resumes. With `--name NAME` the
pipeline runs as a named run (variant) of the project, in a store of its own that shares
the project's labels (see `store.variants`): the paper's ablations, side by side.
"""

from __future__ import annotations

import argparse
import json
import sys

from twt_backend.cli.flags import Flags, add_flags
from twt_backend.config import (
    GenerationConfig,
    LoraConfig,
    RefineConfig,
    SelectionConfig,
    TrainingConfig,
)
from twt_backend.errors import UsageError
from twt_backend.store import Project

# The config fields `twt run` takes as flags (unset: the project's setting).
RUN_FLAGS = (
    Flags(
        TrainingConfig,
        only=("student", "epochs", "max_steps", "batch_size", "lr", "max_length"),
        dest_prefix="",
    ),
    Flags(LoraConfig, prefix="lora-", only=("rank",)),  # --lora-rank -> args.lora_rank
    Flags(GenerationConfig, only=("max_new_tokens", "engine")),  # student answers, evaluations
    Flags(RefineConfig, prefix="refine-", only=("method",)),  # --refine-method
)
RUN_SELECTION_FLAGS = Flags(  # only with --name: a named run's own selection
    SelectionConfig,
    only=("strategy", "threshold"),
    helps={
        "strategy": "With --name: selection strategy of the run (dcrs with --threshold 0 is "
        "diversity only; quality is the confidence threshold only; random draws two outputs a "
        "query blind).",
        "threshold": "With --name: the run's quality threshold s.",
    },
)
TRAINING_FLAGS = tuple(n for n in RUN_FLAGS[0].only or () if n != "student")


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
    add_flags(parser, *RUN_FLAGS)
    parser.add_argument("--nproc", type=int, default=1, help="Processes (GPUs) per step.")
    parser.add_argument("--limit", type=int, help="Evaluate at most N test queries per stage.")
    parser.add_argument(
        "--skip-stage",
        type=int,
        action="append",
        default=[],
        metavar="N",
        help="Leave out compressed stage N: --skip-stage 2 trains stage 3 straight from "
        "stage 1 (the paper's run without the compression stage). Repeatable.",
    )
    parser.add_argument(
        "--name",
        help="Run the pipeline as the named run (variant) NAME of the project: its own "
        "selection, rewrites, adapters and evaluations under DIR/artifacts/runs/NAME, the "
        "project's labels shared. Made on first use; the same command resumes it.",
    )
    parser.add_argument(
        "--teacher",
        action="append",
        default=[],
        metavar="NAME",
        help="With --name: select from these teachers' labels only (single-teacher "
        "ablation). Repeatable; default every enabled teacher.",
    )
    add_flags(parser, RUN_SELECTION_FLAGS)
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

    variants = sub.add_parser(
        "variants", help="List the project's named runs (twt run --name) and their state."
    )
    variants.add_argument("dir", help="Project folder.")
    variants.add_argument("--json", action="store_true", help="Print the runs as JSON.")
    variants.set_defaults(func=_variants)


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
        "skip_stages": sorted(set(args.skip_stage)),
        "label": not args.name,  # a named run shares the project's labels
    }


def _run(args: argparse.Namespace) -> int:
    options = pipeline_options(args)
    if not args.name and (args.teacher or args.strategy or args.threshold is not None):
        raise UsageError("--teacher, --strategy and --threshold make a named run: add --name")
    with Project.open(args.dir) as project:
        if not args.name:
            return _follow(project, options, args)
        from twt_backend.ops.runs import named_options, open_named_run

        options = named_options(options)
        with open_named_run(
            project,
            args.name,
            options,
            strategy=args.strategy,
            threshold=args.threshold,
            teachers=args.teacher,
        ) as run:
            if not args.quiet and not args.json:
                print(f"run {args.name}: {run.root}")
            return _follow(run, options, args)


def _follow(project: Project, options: dict[str, object], args: argparse.Namespace) -> int:
    from twt_backend import jobs
    from twt_backend.cli.follow import FINISHED_WITH_FAILURES, run_foreground
    from twt_backend.ops.pipeline import start_pipeline, step_failures

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


def _variants(args: argparse.Namespace) -> int:
    from twt_backend.ops.runs import runs_summary

    with Project.open(args.dir, readonly=True) as project:
        summary = runs_summary(project)
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
        return 0
    for run in summary:
        pipeline = run["settings"].get("pipeline", {})
        what = [f"{pipeline.get('n_stages', 3)} stages"] if pipeline else ["the project"]
        if pipeline.get("skip_stages"):
            what.append("skips " + ",".join(map(str, pipeline["skip_stages"])))
        if run["settings"].get("teachers"):
            what.append("teachers " + ",".join(run["settings"]["teachers"]))
        what += [f"{k} {v}" for k, v in run["settings"].get("selection", {}).items()]
        if pipeline.get("refine", {}).get("method"):
            what.append("refine " + pipeline["refine"]["method"])
        trained = ",".join(map(str, run["trained_stages"])) or "none"
        print(f"{run['name']:<16} {'; '.join(what)}; trained {trained}; "
              f"evaluated {len(run['evaluated'])} method(s)  {run['path']}")  # fmt: skip
    return 0

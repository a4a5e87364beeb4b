"""`twt eval`: a stage's student (0 = vanilla) on the test split, as a job in the foreground."""

from __future__ import annotations

import argparse
import dataclasses

from twt_backend import jobs
from twt_backend.cli.follow import run_foreground
from twt_backend.config import GenerationConfig
from twt_backend.errors import UsageError
from twt_backend.evaluation.runner import adapter_for, student_name
from twt_backend.models import resolve_student
from twt_backend.settings import load_config, with_overrides
from twt_backend.store import Project


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    ev = sub.add_parser("eval", help="Evaluate a stage's student (0 = vanilla) on the test split.")
    ev.add_argument("dir", help="Project folder.")
    ev.add_argument(
        "--stage",
        type=int,
        required=True,
        choices=range(0, 5),
        metavar="{0,1,2,3,4}",
        help="0 = vanilla student, 1..4 = after that stage.",
    )
    ev.add_argument("--split", default="test", help="Query split to evaluate (default test).")
    ev.add_argument("--limit", type=int, help="Evaluate at most N queries.")
    ev.add_argument("--student", help="Student model folder or name (default: the project's).")
    ev.add_argument(
        "--nproc", type=int, default=1, help="Processes (one per GPU) sharing the work."
    )
    ev.add_argument("--max-new-tokens", type=int, help="Maximum new tokens (paper: 2048).")
    ev.add_argument("--batch-size", type=int, help="Generation batch size.")
    ev.add_argument("--temperature", type=float, help="Sampling temperature (paper: 0).")
    ev.set_defaults(func=_eval)


def _eval(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit: must be at least 1")
    if args.nproc < 1:
        raise UsageError("--nproc: must be at least 1")
    with Project.open(args.dir) as project:
        if not project.scalar("SELECT COUNT(*) FROM queries WHERE split=?", (args.split,)):
            raise UsageError(
                f"{args.dir}: no queries in split {args.split!r}; import a test "
                "split with `twt import DIR FILE --split test`"
            )
        adapter = adapter_for(project, args.stage)
        generation = with_overrides(
            load_config(project, GenerationConfig),
            {
                "max_new_tokens": args.max_new_tokens,
                "batch_size": args.batch_size,
                "temperature": args.temperature,
            },
        )
        config = {
            "stage": args.stage,
            "split": args.split,
            "limit": args.limit,
            "student": resolve_student(student_name(project, args.student)),
            "adapter": str(adapter) if adapter else None,
            "nproc": args.nproc,
            "generation": dataclasses.asdict(generation),
        }
        job_id = jobs.create_job(project, "eval", config, name=f"eval stage {args.stage}")
        return run_foreground(project, job_id)

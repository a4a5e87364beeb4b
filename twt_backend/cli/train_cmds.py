"""`twt train` (and, later, `twt refine` and `twt run`: one register function each).

The flags come from the config dataclasses through the one flag builder (cli/flags.py;
TrainingConfig: `--epochs`, `--lr`...; LoraConfig: `--lora-rank`...; LaunchConfig: `--nproc`,
`--master-addr`...), so the CLI and the GUI forms share names, defaults, bounds and help.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from twt_backend import jobs
from twt_backend.artifacts import BASELINES
from twt_backend.cli.flags import Flags
from twt_backend.cli.follow import run_foreground
from twt_backend.config import LaunchConfig, LoraConfig, TrainingConfig
from twt_backend.store import Project

# config section -> (dataclass, flag prefix)
SECTIONS: dict[str, tuple[type, str]] = {
    "training": (TrainingConfig, ""),
    "lora": (LoraConfig, "lora-"),
    "launch": (LaunchConfig, ""),
}


def _dest(section: str, name: str) -> str:
    return f"cfg__{section}__{name}"


def section_flags(section: str) -> Flags:
    """The flags of one config section (all its fields; unset = the project's setting)."""
    cls, prefix = SECTIONS[section]
    return Flags(cls, prefix=prefix, dest_prefix=_dest(section, ""))


def add_config_flags(parser: argparse.ArgumentParser, section: str) -> None:
    """One flag per dataclass field; unset flags stay out of the job config."""
    section_flags(section).add_to(parser)


def config_from_args(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    return {section: section_flags(section).values(args) for section in SECTIONS}


def train_target(args: argparse.Namespace) -> int | str:
    return str(args.baseline) if args.baseline else int(args.stage)


def train_job_config(args: argparse.Namespace, project: Project) -> dict[str, Any]:
    """The job config of the flags: the project's saved settings, overridden by the flags
    (`ops.training.train_config`, the app's and the pipeline's builder too)."""
    from twt_backend.ops.training import train_config

    n_stages = 4 if args.four_stage else None  # None: the project's
    return train_config(project, train_target(args), config_from_args(args), n_stages)


def _train(args: argparse.Namespace) -> int:
    from twt_backend.ops.training import run_label, start_train_job

    with Project.open(args.dir) as project:
        config = train_job_config(args, project)
        started = start_train_job(project, config, restart=args.restart)
        if started.resumed:
            print(f"resuming job {started.job_id} ({run_label(config)}) from its last checkpoint")
        code = run_foreground(project, started.job_id, quiet=args.quiet)
        if args.json:
            print(json.dumps(jobs.get_job(project, started.job_id), sort_keys=True, default=str))
        return code


def register_train(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "train",
        help="Train the student on one HaRD stage (LoRA) or a baseline, resuming an "
        "unfinished run.",
        description="Stage 1: full reasoning; 2: compressed reasoning; 3: answer only "
        "(with --four-stage: 2 and 3 compressed, 4 answer only). Each stage starts from the "
        "previous stage's adapter. Baselines start from the base student: kd (answer-only "
        "fine-tuning on the teacher labels), dss (distilling step-by-step: [rationale] and "
        "[label] tasks); stage 1 is the full-reasoning SFT baseline.",
    )
    parser.add_argument("dir", help="Project folder.")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--stage",
        type=int,
        choices=(1, 2, 3, 4),
        help="HaRD stage: 1 full reasoning, 2 compressed reasoning, 3 answer only "
        "(4: the four-stage variant's answer-only stage).",
    )
    which.add_argument(
        "--baseline",
        choices=BASELINES,
        help="Train a baseline instead: kd (standard KD) or dss (distilling step-by-step); "
        "adapter in artifacts/baselines/NAME/adapter.",
    )
    parser.add_argument(
        "--four-stage", action="store_true", help="The four-stage variant (stage 4 implies it)."
    )
    parser.add_argument("--quiet", action="store_true", help="No progress display.")
    parser.add_argument("--json", action="store_true", help="Print the final job row as JSON.")
    parser.add_argument(
        "--restart",
        action="store_true",
        help="Start afresh: do not resume the stage's unfinished run (its checkpoint is dropped).",
    )
    for section in SECTIONS:
        add_config_flags(parser, section)
    parser.set_defaults(func=_train)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    register_train(sub)

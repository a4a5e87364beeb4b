"""`twt train` (and, later, `twt refine` and `twt run`: one register function each).

The flags come from the config dataclasses' fields and help (TrainingConfig: `--epochs`,
`--lr`...; LoraConfig: `--lora-rank`...; LaunchConfig: `--nproc`, `--master-addr`...), so
the CLI and the GUI forms share names, defaults, bounds and help.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twt_backend import jobs
from twt_backend.artifacts import BASELINES
from twt_backend.cli.follow import run_foreground
from twt_backend.config import LaunchConfig, LoraConfig, TrainingConfig, finite_float
from twt_backend.errors import UsageError
from twt_backend.store import Project

# config section -> (dataclass, flag prefix)
SECTIONS: dict[str, tuple[type, str]] = {
    "training": (TrainingConfig, ""),
    "lora": (LoraConfig, "lora-"),
    "launch": (LaunchConfig, ""),
}
_TYPES: dict[str, Callable[[str], Any]] = {"int": int, "float": finite_float, "str": str}


def _dest(section: str, name: str) -> str:
    return f"cfg__{section}__{name}"


def add_config_flags(parser: argparse.ArgumentParser, section: str) -> None:
    """One flag per dataclass field; unset flags stay out of the job config."""
    cls, prefix = SECTIONS[section]
    for field in dataclasses.fields(cls):
        flag = "--" + prefix + field.name.replace("_", "-")
        meta = field.metadata
        kind = str(field.type).replace(" | None", "")
        help_text = f"{meta.get('help', '')} (default: {field.default})"
        common: dict[str, Any] = {"dest": _dest(section, field.name), "default": None}
        if kind == "bool":
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, help=help_text, **common
            )
            continue
        parser.add_argument(
            flag,
            type=_TYPES.get(kind, str),
            choices=meta.get("choices"),
            metavar=field.name.upper(),
            help=help_text,
            **common,
        )


def config_from_args(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    config: dict[str, dict[str, Any]] = {}
    for section, (cls, _) in SECTIONS.items():
        values = {
            f.name: getattr(args, _dest(section, f.name))
            for f in dataclasses.fields(cls)
            if getattr(args, _dest(section, f.name), None) is not None
        }
        config[section] = values
    return config


def _target(config: dict[str, Any]) -> tuple[Any, Any]:
    return config.get("baseline"), config.get("stage")


def run_label(config: dict[str, Any]) -> str:
    baseline = config.get("baseline")
    return f"baseline {baseline}" if baseline else f"stage {config.get('stage')}"


def find_resumable(project: Project, config: dict[str, Any]) -> int | None:
    """The latest train job of the same stage (or baseline) and settings that did not
    finish."""
    for job in reversed(jobs.list_jobs(project)):
        if job["kind"] != "train" or _target(job["config"]) != _target(config):
            continue
        if job["status"] in jobs.ACTIVE and jobs.pid_alive(job["pid"]):
            raise UsageError(f"{run_label(config)} is already training (job {job['id']})")
        if job["status"] == "finished":
            return None
        if job["status"] in ("interrupted", "cancelled", "failed", "queued"):
            return int(job["id"]) if job["config"] == config else None
    return None


def saved_sections(project: Project) -> dict[str, dict[str, Any]]:
    """The project's saved training settings (the Setup page's), one dict per section."""
    from twt_backend.settings import load_config

    return {
        name: dataclasses.asdict(load_config(project, cls)) for name, (cls, _) in SECTIONS.items()
    }


def train_job_config(args: argparse.Namespace, project: Project | None = None) -> dict[str, Any]:
    """The job config: the project's saved settings (when given), overridden by the flags."""
    from twt_backend.training.run_settings import settings_from_config

    four_stage = args.four_stage or (project is not None and project.get_meta("n_stages") == "4")
    config: dict[str, Any] = {"n_stages": 4 if four_stage or args.stage == 4 else 3}
    if args.baseline:
        config.update(baseline=args.baseline, stage=0)
    else:
        config["stage"] = args.stage
    sections = saved_sections(project) if project is not None else {s: {} for s in SECTIONS}
    for section, values in config_from_args(args).items():
        sections[section].update(values)
    config.update(sections)
    student = config["training"].get("student")
    if student and Path(student).expanduser().is_dir():  # the worker runs in the project folder
        config["training"]["student"] = str(Path(student).expanduser().resolve())
    launch = config["launch"]
    if launch.get("nproc", 1) * launch.get("nnodes", 1) > 1:
        launch.setdefault("launcher", "torchrun")
    return settings_from_config(config).to_config()  # validated, defaults filled in


def _train(args: argparse.Namespace) -> int:
    from twt_backend.training.job import preflight
    from twt_backend.training.run_settings import settings_from_config

    with Project.open(args.dir) as project:
        config = train_job_config(args, project)
        preflight(project, settings_from_config(config))  # a refused stage creates no job
        if config["n_stages"] == 4 and project.get_meta("n_stages") != "4":
            with project.transaction():
                project.set_meta("n_stages", "4")  # evaluation reads it to pick prompt modes
        jobs.reap_stale(project)
        job_id = find_resumable(project, config)
        label = run_label(config)
        if job_id is None:
            job_id = jobs.create_job(project, "train", config, name=f"train {label}")
        else:
            print(f"resuming job {job_id} ({label}) from its last checkpoint")
        code = run_foreground(project, job_id, quiet=args.quiet)
        if args.json:
            print(json.dumps(jobs.get_job(project, job_id), sort_keys=True, default=str))
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
    for section in SECTIONS:
        add_config_flags(parser, section)
    parser.set_defaults(func=_train)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    register_train(sub)

"""The config of a "train" job: the project's saved settings, then the overrides of the
command, the app or the pipeline (one builder for all of them; `ops.training` starts it)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from twt_backend.config import LaunchConfig, LoraConfig, TrainingConfig
from twt_backend.store import Project

SECTIONS: dict[str, type] = {"training": TrainingConfig, "lora": LoraConfig, "launch": LaunchConfig}
Target = int | str  # a stage number, or a baseline name ("kd", "dss")


def project_stages(project: Project) -> int:
    """The project's number of HaRD stages: 3, or 4 for the four-stage variant."""
    return 4 if project.get_meta("n_stages") == "4" else 3


def saved_sections(project: Project) -> dict[str, dict[str, Any]]:
    """The project's saved training settings, one dict per section."""
    from twt_backend.settings import load_config

    return {name: dataclasses.asdict(load_config(project, cls)) for name, cls in SECTIONS.items()}


def train_config(
    project: Project,
    target: Target,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    n_stages: int | None = None,
) -> dict[str, Any]:
    """The validated "train" job config of a stage or baseline: saved settings, then
    `overrides` ({"training": {...}, "lora": {...}, "launch": {...}}). `n_stages` None: the
    project's (stage 4 implies 4)."""
    from twt_backend.training.run_settings import settings_from_config

    overrides = overrides or {}
    stages = n_stages or project_stages(project)
    config: dict[str, Any] = {"n_stages": 4 if target == 4 else stages}
    if isinstance(target, str):
        config.update(baseline=target, stage=0)
    else:
        config["stage"] = int(target)
    sections = saved_sections(project)
    for section, values in overrides.items():
        sections[section].update({k: v for k, v in values.items() if v is not None})
    student = sections["training"].get("student")
    if student and Path(student).expanduser().is_dir():  # the worker runs in the project
        sections["training"]["student"] = str(Path(student).expanduser().resolve())
    launch = sections["launch"]
    several = int(launch.get("nproc", 1)) * int(launch.get("nnodes", 1)) > 1
    if (
        several
        and launch.get("launcher") == "single"
        and "launcher" not in overrides.get("launch", {})
    ):
        launch["launcher"] = "torchrun"  # several processes need a launcher
    config.update(sections)
    return settings_from_config(config).to_config()  # validated, defaults filled in

"""Train a HaRD stage or a baseline: one operation for the CLI (`twt train`) and the app's
Training page; the pipeline's train steps build the same config (`training.job_config`)
and follow the same start-or-resume rule (`job_start`).

The target format of stage N comes from the project's number of stages (meta `n_stages`,
set by `twt train --four-stage`, `twt run --stages 4` or the app), so stage 3 of a
four-stage project trains compressed reasoning whoever starts it. The settings are the
project's saved ones (the Setup page's) with the caller's overrides on top.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twt_backend.ops.jobs import Started, start_or_resume
from twt_backend.store import Project
from twt_backend.training.job_config import (  # train_config: also the front ends'
    Target,
    train_config,
)


def run_label(config: Mapping[str, Any]) -> str:
    baseline = config.get("baseline")
    return f"baseline {baseline}" if baseline else f"stage {config.get('stage')}"


def start_training(
    project: Project,
    target: Target,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    n_stages: int | None = None,
    *,
    restart: bool = False,
    detach: bool = False,
    parent: int | None = None,
) -> Started:
    """Train a stage or baseline: refuse one that cannot start (no previous adapter, no
    examples) before any job exists, record a four-stage project, then start or resume
    (`ops.jobs.start_or_resume`: an interrupted run of the target continues from its
    checkpoint)."""
    config = train_config(project, target, overrides, n_stages)
    return start_train_job(project, config, restart=restart, detach=detach, parent=parent)


def start_train_job(
    project: Project,
    config: dict[str, Any],
    *,
    restart: bool = False,
    detach: bool = False,
    parent: int | None = None,
) -> Started:
    """`start_training` for a config `train_config` built (the pipeline builds its steps'
    configs first, to compare them)."""
    from twt_backend.training.job import preflight
    from twt_backend.training.run_settings import settings_from_config

    preflight(project, settings_from_config(config))  # a refused stage creates no job
    if config["n_stages"] == 4 and project.get_meta("n_stages") != "4":
        with project.transaction():
            project.set_meta("n_stages", "4")  # evaluation reads it to pick prompt modes
    name = f"train {run_label(config)}"
    return start_or_resume(
        project, "train", config, name, restart=restart, detach=detach, parent=parent
    )

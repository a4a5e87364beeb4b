"""The train job's config and where a stage's artifacts live.

A "train" job's config is ``{"stage": N, "n_stages": 3, "training": {...},
"lora": {...}, "launch": {...}}``; the three dicts hold fields of TrainingConfig,
LoraConfig and LaunchConfig (missing fields take the paper's defaults). A baseline's
config names it instead of a stage: ``{"baseline": "kd" | "dss", "stage": 0, ...}``
(stage 0: it trains from the base student; see `training.baselines`).

Per stage, under ``artifacts/stages/stage{N}/``: ``adapter/`` (the LoRA adapter and the
tokenizer), ``run_config.json``, ``train.log``, ``checkpoints/`` (of the job named in
``checkpoints/JOB``), ``merged/`` (optional merged model) and ``distributed/`` (generated
DeepSpeed / FSDP / accelerate configs). A baseline's artifacts live the same way under
``artifacts/baselines/{name}/``: the path helpers take a stage number or a baseline name.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twt_backend.config import LaunchConfig, LoraConfig, TrainingConfig, from_dict
from twt_backend.errors import UsageError

MAX_STAGES = 4
BASELINES = ("kd", "dss")  # trained baselines; stage 0 (vanilla) and stage 1 (SFT) need no run

Target = int | str  # a HaRD stage number or a baseline name


@dataclass
class RunSettings:
    stage: int
    n_stages: int = 3
    training: TrainingConfig = field(default_factory=TrainingConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    launch: LaunchConfig = field(default_factory=LaunchConfig)
    baseline: str | None = None
    init_from: int | None = None  # the stage whose adapter this one starts from (stage - 1)

    @property
    def target(self) -> Target:
        """What this run trains: the stage number, or the baseline's name."""
        return self.baseline or self.stage

    @property
    def label(self) -> str:
        return f"baseline {self.baseline}" if self.baseline else f"stage {self.stage}"

    def validate(self) -> None:
        if self.n_stages not in (3, 4):
            raise UsageError(f"n_stages: {self.n_stages} is not 3 or 4")
        if self.baseline is not None:
            check_baseline(self.baseline)
            if self.stage != 0:
                raise UsageError(f"baseline {self.baseline}: stage must be 0, not {self.stage}")
        elif not 1 <= self.stage <= self.n_stages:
            raise UsageError(f"stage: {self.stage} is not between 1 and {self.n_stages}")
        if self.init_from is not None and not 1 <= self.init_from < self.stage:
            raise UsageError(f"init_from: stage {self.stage} cannot start from {self.init_from}")

    @property
    def previous_stage(self) -> int:
        """The stage whose adapter this stage starts from: the one before, unless the
        stages in between were skipped (e.g. stage 3 straight from stage 1)."""
        return self.init_from if self.init_from is not None else self.stage - 1

    def to_config(self) -> dict[str, Any]:
        config = dataclasses.asdict(self)
        for optional in ("baseline", "init_from"):
            if config[optional] is None:
                del config[optional]  # a stage's config stays as it always was
        return config


def settings_from_config(config: dict[str, Any]) -> RunSettings:
    known = {"stage", "n_stages", "training", "lora", "launch", "baseline", "init_from"}
    unknown = sorted(set(config) - known)
    if unknown:
        raise UsageError(f"train job: unknown option(s) {', '.join(unknown)}")
    baseline = config.get("baseline")
    if "stage" not in config and not baseline:
        raise UsageError("train job: the config names no stage")
    stage = int(config.get("stage", 0))
    n_stages = int(config.get("n_stages", 3))
    if stage == MAX_STAGES:
        n_stages = MAX_STAGES  # stage 4 only exists in the four-stage variant
    settings = RunSettings(
        stage=stage,
        baseline=str(baseline) if baseline else None,
        n_stages=n_stages,
        training=from_dict(TrainingConfig, config.get("training", {})),
        lora=from_dict(LoraConfig, config.get("lora", {})),
        launch=from_dict(LaunchConfig, config.get("launch", {})),
        init_from=None if config.get("init_from") is None else int(config["init_from"]),
    )
    settings.validate()
    return settings


def check_baseline(name: str) -> str:
    if name not in BASELINES:
        raise UsageError(f"unknown baseline {name!r}; expected one of {', '.join(BASELINES)}")
    return name


def stage_dir(project_root: str | Path, stage: Target) -> Path:
    """A stage's folder (`stages/stage{N}`), or a baseline's (`baselines/{name}`)."""
    if isinstance(stage, str) and not stage.isdigit():
        return Path(project_root) / "artifacts" / "baselines" / check_baseline(stage)
    return Path(project_root) / "artifacts" / "stages" / f"stage{int(stage)}"


def adapter_dir(project_root: str | Path, stage: Target) -> Path:
    """The trained LoRA adapter of a stage (what inference and the next stage load)."""
    return stage_dir(project_root, stage) / "adapter"


def checkpoints_dir(project_root: str | Path, stage: Target) -> Path:
    return stage_dir(project_root, stage) / "checkpoints"


def merged_dir(project_root: str | Path, stage: Target) -> Path:
    return stage_dir(project_root, stage) / "merged"


def run_config_path(project_root: str | Path, stage: Target) -> Path:
    return stage_dir(project_root, stage) / "run_config.json"


def stage_finished(project_root: str | Path, stage: Target) -> bool:
    return (adapter_dir(project_root, stage) / "adapter_config.json").is_file()


LEGACY_PROMPT_MODE = "stage"  # what a run config without a prompt mode was trained with


def trained_prompt_mode(project_root: str | Path, stage: Target) -> str | None:
    """The prompt mode a stage or baseline was trained with (its run config), if any."""
    path = run_config_path(project_root, stage)
    if not path.is_file():
        return None
    config = json.loads(path.read_text(encoding="utf-8"))
    training = config.get("settings", {}).get("training", {})
    return str(training.get("prompt_mode") or LEGACY_PROMPT_MODE)

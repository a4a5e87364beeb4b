"""The train job's config and where a stage's artifacts live.

A "train" job's config is ``{"stage": N, "n_stages": 3, "training": {...},
"lora": {...}, "launch": {...}}``; the three dicts hold fields of TrainingConfig,
LoraConfig and LaunchConfig (missing fields take the paper's defaults).

Per stage, under ``artifacts/stages/stage{N}/``: ``adapter/`` (the LoRA adapter and the
tokenizer), ``run_config.json``, ``train.log``, ``checkpoints/`` (of the job named in
``checkpoints/JOB``), ``merged/`` (optional merged model) and ``distributed/`` (generated
DeepSpeed / FSDP / accelerate configs).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twt_backend.config import LaunchConfig, LoraConfig, TrainingConfig, from_dict
from twt_backend.errors import UsageError

MAX_STAGES = 4


@dataclass
class RunSettings:
    stage: int
    n_stages: int = 3
    training: TrainingConfig = field(default_factory=TrainingConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    launch: LaunchConfig = field(default_factory=LaunchConfig)

    def validate(self) -> None:
        if self.n_stages not in (3, 4):
            raise UsageError(f"n_stages: {self.n_stages} is not 3 or 4")
        if not 1 <= self.stage <= self.n_stages:
            raise UsageError(f"stage: {self.stage} is not between 1 and {self.n_stages}")

    def to_config(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def settings_from_config(config: dict[str, Any]) -> RunSettings:
    known = {"stage", "n_stages", "training", "lora", "launch"}
    unknown = sorted(set(config) - known)
    if unknown:
        raise UsageError(f"train job: unknown option(s) {', '.join(unknown)}")
    if "stage" not in config:
        raise UsageError("train job: the config names no stage")
    n_stages = int(config.get("n_stages", 3))
    if int(config["stage"]) == MAX_STAGES:
        n_stages = MAX_STAGES  # stage 4 only exists in the four-stage variant
    settings = RunSettings(
        stage=int(config["stage"]),
        n_stages=n_stages,
        training=from_dict(TrainingConfig, config.get("training", {})),
        lora=from_dict(LoraConfig, config.get("lora", {})),
        launch=from_dict(LaunchConfig, config.get("launch", {})),
    )
    settings.validate()
    return settings


def stage_dir(project_root: str | Path, stage: int) -> Path:
    return Path(project_root) / "artifacts" / "stages" / f"stage{stage}"


def adapter_dir(project_root: str | Path, stage: int) -> Path:
    """The trained LoRA adapter of a stage (what inference and the next stage load)."""
    return stage_dir(project_root, stage) / "adapter"


def checkpoints_dir(project_root: str | Path, stage: int) -> Path:
    return stage_dir(project_root, stage) / "checkpoints"


def merged_dir(project_root: str | Path, stage: int) -> Path:
    return stage_dir(project_root, stage) / "merged"


def run_config_path(project_root: str | Path, stage: int) -> Path:
    return stage_dir(project_root, stage) / "run_config.json"


def stage_finished(project_root: str | Path, stage: int) -> bool:
    return (adapter_dir(project_root, stage) / "adapter_config.json").is_file()

"""The train job's config: which stage or baseline it trains and how.

A "train" job's config is ``{"stage": N, "n_stages": 3, "training": {...},
"lora": {...}, "launch": {...}}``; the three dicts hold fields of TrainingConfig,
LoraConfig and LaunchConfig (missing fields take the paper's defaults). A baseline's
config names it instead of a stage: ``{"baseline": "kd" | "dss", "stage": 0, ...}``
(stage 0: it trains from the base student; see `training.baselines`). Where the run's
artifacts live is `twt_backend.artifacts`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from twt_backend.artifacts import MAX_STAGES, Target, check_baseline
from twt_backend.config import LaunchConfig, LoraConfig, TrainingConfig, from_dict
from twt_backend.errors import UsageError


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

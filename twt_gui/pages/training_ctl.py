"""Training controller: launch stages and baselines, follow their metrics and logs."""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from twt_backend import jobs
from twt_backend.config import LaunchConfig, LoraConfig, TrainingConfig
from twt_backend.store import Project
from twt_gui.pages.jobs_ctl import job_rows, start_job, tail

KINDS = ("train", "eval")
# baselines the page trains, and what it can evaluate (stage 0 is the vanilla student,
# stage 1 the full-reasoning SFT baseline)
BASELINES = {"kd": "standard KD", "dss": "distilling step-by-step"}
EVAL_TARGETS: tuple[int | str, ...] = (0, 1, 2, 3, 4, "kd", "dss")
LIVE_EVAL_PLOTS = {"eval_accuracy": "accuracy", "eval_output_tokens": "output_tokens"}


def target_label(target: int | str) -> str:
    if isinstance(target, str):
        return f"baseline {target}"
    return "vanilla student (stage 0)" if target == 0 else f"stage {target}"


def plot_of(name: str) -> str | None:
    """Which plot a metric belongs to: loss, lr, throughput, or the live evaluation's
    accuracy and output tokens (None: not plotted)."""
    if name in LIVE_EVAL_PLOTS:
        return LIVE_EVAL_PLOTS[name]
    if name.endswith("loss"):
        return "loss"
    if name in ("learning_rate", "lr"):
        return "lr"
    if "tokens" in name or name.endswith("per_second") or name.endswith("per_s"):
        return "throughput"
    return None


class MetricSeries:
    """Metrics of one job read incrementally (only rows newer than the last seen id)."""

    def __init__(self, project: Project, job_id: int):
        self.project = project
        self.job_id = job_id
        self.last_id = 0
        self.series: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))

    def poll(self) -> bool:
        rows = self.project.conn.execute(
            "SELECT id, step, name, value FROM metrics WHERE job_id=? AND id>? ORDER BY id",
            (self.job_id, self.last_id),
        ).fetchall()
        for row_id, step, name, value in rows:
            xs, ys = self.series[name]
            xs.append(float(step))
            ys.append(float(value))
            self.last_id = row_id
        return bool(rows)


class TrainingController:
    def __init__(self, project: Project):
        self.project = project

    def settings(self) -> tuple[TrainingConfig, LoraConfig, LaunchConfig]:
        from twt_backend.settings import load_config

        return (
            load_config(self.project, TrainingConfig),
            load_config(self.project, LoraConfig),
            load_config(self.project, LaunchConfig),
        )

    def reattach(self) -> list[int]:
        return jobs.reap_stale(self.project)

    def runs(self) -> list[dict[str, Any]]:
        rows = job_rows(self.project, KINDS)
        for row in rows:
            config = json.loads(row["config"])
            row["stage"] = config.get("stage")
            row["baseline"] = config.get("baseline")
            what = (
                f" baseline {row['baseline']}"
                if row["baseline"]
                else (f" stage {row['stage']}" if row["stage"] is not None else "")
            )
            row["label"] = f"#{row['id']} {row['kind']}{what} — {row['status']}"
        return rows

    def training_config(
        self, target: int | str, launch: LaunchConfig, n_stages: int = 3
    ) -> dict[str, Any]:
        """The train job config of a stage, or of a baseline ("kd", "dss")."""
        from twt_backend.training.settings import settings_from_config

        training, lora, _ = self.settings()
        config: dict[str, Any] = {
            "n_stages": n_stages,
            "training": dataclasses.asdict(training),
            "lora": dataclasses.asdict(lora),
            "launch": dataclasses.asdict(launch),
        }
        if isinstance(target, str):
            config.update(baseline=target, stage=0)
        else:
            config["stage"] = target
        return settings_from_config(config).to_config()

    def start_training(self, target: int | str, launch: LaunchConfig, n_stages: int = 3) -> int:
        config = self.training_config(target, launch, n_stages)
        name = f"baseline {target}" if isinstance(target, str) else f"stage{target}"
        return start_job(self.project, "train", config, name=name)

    def start_eval(self, target: int | str, limit: int | None = None) -> int:
        """Evaluate a stage (0: the vanilla student) or a trained baseline on the test split;
        UsageError (no test split, untrained adapter) before any job exists."""
        from twt_backend.evaluation.job import eval_job_config, method_name

        config = eval_job_config(self.project, target, limit=limit)
        return start_job(self.project, "eval", config, name=f"eval {method_name(target)}")

    def job(self, job_id: int) -> dict[str, Any]:
        return jobs.get_job(self.project, job_id)

    def log(self, job_id: int) -> str:
        job = self.job(job_id)
        folder = Path(job["artifact_dir"] or "")
        parts = [tail(folder / name) for name in ("job.log", "worker.log", "error.log")]
        return "\n".join(p for p in parts if p) or "(no log yet)"

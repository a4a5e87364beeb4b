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
BASELINES = ("vanilla (stage 0)",)


def plot_of(name: str) -> str | None:
    """Which plot a metric belongs to: loss, lr or throughput (None: not plotted)."""
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
            row["label"] = (
                f"#{row['id']} {row['kind']} stage {row['stage']} — {row['status']}"
                if row["stage"] is not None
                else f"#{row['id']} {row['kind']} — {row['status']}"
            )
        return rows

    def start_training(self, stage: int, launch: LaunchConfig, n_stages: int = 3) -> int:
        training, lora, _ = self.settings()
        config = {
            "stage": stage,
            "n_stages": n_stages,
            "training": dataclasses.asdict(training),
            "lora": dataclasses.asdict(lora),
            "launch": dataclasses.asdict(launch),
        }
        return start_job(self.project, "train", config, name=f"stage{stage}")

    def start_eval(self, stage: int, limit: int | None = None) -> int:
        config: dict[str, Any] = {"stage": stage, "split": "test"}
        if limit:
            config["limit"] = limit
        return start_job(self.project, "eval", config, name=f"eval stage{stage}")

    def job(self, job_id: int) -> dict[str, Any]:
        return jobs.get_job(self.project, job_id)

    def log(self, job_id: int) -> str:
        job = self.job(job_id)
        folder = Path(job["artifact_dir"] or "")
        parts = [tail(folder / name) for name in ("job.log", "worker.log", "error.log")]
        return "\n".join(p for p in parts if p) or "(no log yet)"

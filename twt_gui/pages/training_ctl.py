"""Training controller: launch stages and baselines, follow their metrics, progress and logs."""

from __future__ import annotations

import dataclasses
import html
import json
import re
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from twt_backend.config import LaunchConfig, LoraConfig, TrainingConfig
from twt_backend.ops import jobs as ops_jobs
from twt_backend.ops.projects import Project
from twt_backend.progress import JobProgress, job_progress
from twt_gui.pages.jobs_ctl import job_rows, tail

KINDS = ("train", "eval")
# baselines the page trains, and what it can evaluate (stage 0 is the vanilla student,
# stage 1 the full-reasoning SFT baseline)
BASELINES = {"kd": "standard KD", "dss": "distilling step-by-step"}
EVAL_TARGETS: tuple[int | str, ...] = (0, 1, 2, 3, 4, "kd", "dss")
LOG_FILES = ("job.log", "worker.log", "error.log")  # in a job's artifact folder
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


# ANSI escape sequences: CSI (colours, cursor moves, erase line) and OSC (titles, links)
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def clean_log(text: str) -> str:
    """Log text as a person reads it: ANSI escapes removed, and of a line that a progress
    bar (tqdm) rewrote with carriage returns, only its last state."""
    lines = []
    for line in _ANSI.sub("", text.replace("\r\n", "\n")).split("\n"):
        frames = [frame for frame in line.split("\r") if frame.strip()]
        lines.append(frames[-1] if frames else "")
    return "\n".join(lines)


def run_label(row: dict[str, Any], now: float | None = None) -> str:
    """The run list's text of a job row: what it is, its status, and its count while active."""
    what = (
        f" baseline {row['baseline']}"
        if row.get("baseline")
        else (f" stage {row['stage']}" if row.get("stage") is not None else "")
    )
    label = f"#{row['id']} {row['kind']}{what} — {row['status']}"
    readable = job_progress(row, now)
    bar = readable.main_bar()
    if readable.active and bar is not None:
        label += f" ({bar.count()})"
    return label


def header_html(row: dict[str, Any], series: MetricSeries | None, now: float | None = None) -> str:
    """The followed run's header: status, then phase, step k of N, elapsed and ETA (from its
    progress snapshot), and the last live validation point (from its metrics rows)."""
    readable = job_progress(row, now)
    name = row["name"] or ""
    what = name if name.startswith(row["kind"]) else f"{row['kind']} {name}".strip()
    text = f"Run #{row['id']} {html.escape(what)}: <b>{row['status']}</b>"
    detail = readable.after_status()
    if detail:
        text += " — " + html.escape(detail)
    if row.get("error"):
        text += f"<br><span style='color:#c0392b'>{html.escape(row['error'])}</span>"
    validation = series.last_validation() if series else None
    if validation is not None:
        step, accuracy, tokens = validation
        text += f"<br>Last validation (step {step:g}): accuracy {accuracy:.2f}"
        if tokens is not None:
            text += f", {tokens:.0f} output tokens"
    return text


class MetricSeries:
    """Metrics of one job read incrementally (only rows newer than the last seen id)."""

    def __init__(self, project: Project, job_id: int):
        self.project = project
        self.job_id = job_id
        self.last_id = 0
        self.series: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
        self.bounds: dict[str, tuple[float, float]] = {}  # name -> (smallest, largest) value

    def poll(self) -> set[str]:
        """Read the rows written since the last poll; the names of the metrics that grew."""
        rows = ops_jobs.metrics_since(self.project, self.job_id, self.last_id)
        for row_id, step, name, value in rows:
            xs, ys = self.series[name]
            xs.append(float(step))
            ys.append(float(value))
            low, high = self.bounds.get(name, (float(value), float(value)))
            self.bounds[name] = (min(low, float(value)), max(high, float(value)))
            self.last_id = row_id
        return {row[2] for row in rows}

    def last_validation(self) -> tuple[float, float, float | None] | None:
        """(step, accuracy, mean output tokens) of the latest live validation point."""
        if "eval_accuracy" not in self.series:
            return None
        xs, ys = self.series["eval_accuracy"]
        tokens = self.series.get("eval_output_tokens")
        last_tokens = tokens[1][-1] if tokens and tokens[0] and tokens[0][-1] == xs[-1] else None
        return xs[-1], ys[-1], last_tokens


class TrainingController:
    def __init__(self, project: Project):
        self.project = project

    def settings(self) -> tuple[TrainingConfig, LoraConfig, LaunchConfig]:
        from twt_backend.ops.settings import load_config

        return (
            load_config(self.project, TrainingConfig),
            load_config(self.project, LoraConfig),
            load_config(self.project, LaunchConfig),
        )

    def reattach(self) -> list[int]:
        return ops_jobs.reattach(self.project)

    def runs(self, now: float | None = None) -> list[dict[str, Any]]:
        """Every train and eval job, newest first, read in one query: the run list and the
        header of the followed run both come from these rows, so they cannot disagree."""
        now = time.time() if now is None else now
        rows = job_rows(self.project, KINDS)
        for row in rows:
            config = json.loads(row["config"])
            row["progress"] = json.loads(row["progress"]) if row["progress"] else {}
            row["stage"] = config.get("stage")
            row["baseline"] = config.get("baseline")
            row["label"] = run_label(row, now)
        return rows

    @staticmethod
    def readable(row: dict[str, Any], now: float | None = None) -> JobProgress:
        return job_progress(row, now)

    def training_config(self, target: int | str, launch: LaunchConfig) -> dict[str, Any]:
        """The train job config of a stage, or of a baseline ("kd", "dss"): the project's
        saved settings with this launch, in the project's number of stages."""
        from twt_backend.ops.training import train_config

        return train_config(self.project, target, {"launch": dataclasses.asdict(launch)})

    def start_training(self, target: int | str, launch: LaunchConfig) -> int:
        """Train (or resume the interrupted run of) a stage or baseline, detached; UsageError
        (no previous adapter, no examples) before any job exists."""
        from twt_backend.ops.training import start_training

        launch_overrides = {"launch": dataclasses.asdict(launch)}
        return start_training(self.project, target, launch_overrides, detach=True).job_id

    def start_eval(self, target: int | str, limit: int | None = None) -> int:
        """Evaluate a stage (0: the vanilla student) or a trained baseline on the test split;
        UsageError (no test split, untrained adapter) before any job exists."""
        from twt_backend.ops.evaluation import start_eval

        return start_eval(self.project, target, limit=limit, detach=True).job_id

    def job(self, job_id: int) -> dict[str, Any]:
        return ops_jobs.get_job(self.project, job_id)

    def log_files(self, job_id: int) -> list[Path]:
        folder = Path(self.job(job_id)["artifact_dir"] or "")
        return [folder / name for name in LOG_FILES]

    def log_version(self, job_id: int) -> tuple[int, ...]:
        """The sizes of the job's log files: the log is re-read only when they change."""
        return tuple(p.stat().st_size if p.exists() else -1 for p in self.log_files(job_id))

    def log(self, job_id: int) -> str:
        """The job's log files, as a person reads them (no progress-bar frames, no ANSI)."""
        parts = [tail(path) for path in self.log_files(job_id)]
        return clean_log("\n".join(p for p in parts if p)) or "(no log yet)"

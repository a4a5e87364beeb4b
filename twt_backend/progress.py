"""Progress a person can read: step k of N (or items done of total), elapsed, ETA, phase.

A job's progress snapshot (the `progress` column, written by `JobContext.progress`) holds
`bars` ({label: {"done": n, "total": m, ...}}), a `message`, and, for training, the current
`phase` (loading, training, evaluating, saving). The writer side (`stamp`) adds `timing`:
per bar, the ETA estimated from the bar's own rate since the worker first saw it, and when
that estimate was made. The reader side (`job_progress`) turns a job row into the words
that the CLI follower, `twt runs` and the app all show, so they never disagree.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

ACTIVE = ("queued", "running")
STEP_BARS = ("train",)  # bars counted in optimiser steps; the others count items
PIPELINE_BAR = "pipeline"
# the phase of a job whose snapshot names none
KIND_PHASES = {
    "generate": "labelling",
    "select": "selecting",
    "train": "training",
    "infer": "answering",
    "refine": "refining",
    "eval": "evaluating",
    "selftest": "self-testing",
    "check": "self-testing",  # the self-test's kind in older projects
}
LOADING_KINDS = ("train", "infer", "eval")  # their first bar comes after a model load


# ---- writer side -------------------------------------------------------------------------
Clocks = dict[str, tuple[float, float]]  # bar label -> (time first seen, done then)


def stamp(snapshot: dict[str, Any], clocks: Clocks, now: float | None = None) -> dict[str, Any]:
    """`snapshot` with `timing` {label: {"eta_s", "at"}} for each bar: the bar's rate since
    `clocks` first saw it (a resumed job's earlier items do not count). A timing entry the
    snapshot already holds (mirrored from a child job) is kept."""
    now = time.time() if now is None else now
    bars = snapshot.get("bars") or {}
    timing = dict(snapshot.get("timing") or {})
    for label, bar in bars.items():
        if label in timing or not isinstance(bar, dict):
            continue
        done, total = _number(bar.get("done")), _number(bar.get("total"))
        if done is None:
            continue
        first = clocks.get(label)
        if first is None or done < first[1]:
            first = clocks[label] = (now, done)
        timing[label] = {"eta_s": _eta(first, done, total, now), "at": round(now, 3)}
    return {**snapshot, "timing": timing} if timing else snapshot


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _eta(first: tuple[float, float], done: float, total: float | None, now: float) -> float | None:
    if total is None or total <= 0:
        return None
    if done >= total:
        return 0.0
    since, done_then = first
    if done <= done_then or now <= since:
        return None  # no rate yet
    rate = (done - done_then) / (now - since)
    return round((total - done) / rate, 1)


# ---- reader side -------------------------------------------------------------------------
def duration(seconds: float | None) -> str:
    """0:42, 12:05, 1:02:03; "?" when unknown."""
    if seconds is None:
        return "?"
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _timestamp(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class BarProgress:
    label: str
    done: int
    total: int | None
    eta_s: float | None  # None: unknown (no rate yet, or the job is not running)

    @property
    def steps(self) -> bool:
        return self.label in STEP_BARS

    def count(self) -> str:
        """ "step 12 of 40" or "120 of 600 items"."""
        of = f" of {self.total}" if self.total is not None else ""
        return f"step {self.done}{of}" if self.steps else f"{self.done}{of} items"


@dataclass(frozen=True)
class JobProgress:
    status: str
    phase: str | None
    elapsed_s: float | None
    bars: tuple[BarProgress, ...]
    message: str

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def main_bar(self) -> BarProgress | None:
        """The bar a one-line summary shows: the training steps, else every item bar
        summed (teachers label side by side: the last to finish sets the ETA)."""
        bars = [b for b in self.bars if b.label != PIPELINE_BAR]
        for bar in bars:
            if bar.steps:
                return bar
        if not bars:
            return None
        if len(bars) == 1:
            return bars[0]
        totals = [b.total for b in bars]
        unfinished = [b for b in bars if b.total is None or b.done < b.total]
        etas = [b.eta_s for b in unfinished if b.eta_s is not None]
        known = self.active and len(etas) == len(unfinished)
        return BarProgress(
            "items",
            sum(b.done for b in bars),
            None if None in totals else sum(t or 0 for t in totals),
            max(etas, default=0.0) if known else None,
        )

    def eta(self) -> str | None:
        bar = self.main_bar()
        if not self.active or bar is None:
            return None
        return "ETA " + duration(bar.eta_s) if bar.eta_s is not None else "ETA ?"

    def details(self) -> list[str]:
        """["step 12 of 40", "0:42 elapsed", "ETA 1:38"] (running) or
        ["step 40 of 40", "took 2:13"] (ended): what is known of these."""
        parts = []
        bar = self.main_bar()
        if bar is not None:
            parts.append(bar.count())
        if self.elapsed_s is not None:
            took = duration(self.elapsed_s)
            parts.append(f"{took} elapsed" if self.active else f"took {took}")
        eta = self.eta()
        if eta:
            parts.append(eta)
        return parts

    def after_status(self) -> str:
        """What follows the status word where it is shown beside: the line while running,
        the details once ended ("step 40 of 40 · took 2:13")."""
        return self.line() if self.active else " · ".join(self.details())

    def line(self) -> str:
        """ "training · step 12 of 40 · 0:42 elapsed · ETA 1:38" (running), or
        "finished · step 40 of 40 · took 2:13"."""
        first = self.phase if self.active and self.phase else self.status
        return " · ".join([first, *self.details()])

    def short(self) -> str:
        """A table cell: "training 12/40 ETA 1:38", or "40/40 in 2:13"."""
        bar = self.main_bar()
        count = ""
        if bar is not None:
            count = f"{bar.done}/{bar.total}" if bar.total is not None else str(bar.done)
        if self.active:
            return " ".join(p for p in (self.phase or self.status, count, self.eta()) if p)
        took = f"in {duration(self.elapsed_s)}" if self.elapsed_s is not None else ""
        return " ".join(p for p in (count, took) if p)


def job_progress(job: dict[str, Any], now: float | None = None) -> JobProgress:
    """The readable progress of a job row (`jobs.get_job`: `progress` already parsed)."""
    now = time.time() if now is None else now
    snapshot = job.get("progress") or {}
    if isinstance(snapshot, str):
        snapshot = json.loads(snapshot) if snapshot else {}
    status = str(job.get("status") or "")
    active = status in ACTIVE
    timing = snapshot.get("timing") or {}
    bars = []
    for label, bar in (snapshot.get("bars") or {}).items():
        if not isinstance(bar, dict) or _number(bar.get("done")) is None:
            continue
        total = _number(bar.get("total"))
        bars.append(
            BarProgress(
                str(label),
                int(bar["done"]),
                int(total) if total is not None and total >= 0 else None,
                _remaining(timing.get(label), now) if active else None,
            )
        )
    return JobProgress(
        status=status,
        phase=_phase(job, snapshot, bars) if active else None,
        elapsed_s=_elapsed(job, now),
        bars=tuple(bars),
        message=str(snapshot.get("message") or ""),
    )


def _remaining(timing: dict[str, Any] | None, now: float) -> float | None:
    if not timing or _number(timing.get("eta_s")) is None:
        return None
    at = _number(timing.get("at")) or now
    return max(0.0, float(timing["eta_s"]) - max(0.0, now - at))


def _elapsed(job: dict[str, Any], now: float) -> float | None:
    started = _timestamp(job.get("started_at"))
    if started is None:
        return None
    ended = _timestamp(job.get("finished_at")) if job.get("status") not in ACTIVE else None
    return max(0.0, (ended or now) - started)


def _phase(job: dict[str, Any], snapshot: dict[str, Any], bars: list[BarProgress]) -> str | None:
    if snapshot.get("phase"):
        return str(snapshot["phase"])
    if job.get("status") == "queued":
        return "queued"
    kind = str(job.get("kind") or "")
    if kind in LOADING_KINDS and not any(b.done for b in bars):
        return "loading"
    return KIND_PHASES.get(kind)

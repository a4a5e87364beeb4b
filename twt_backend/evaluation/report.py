"""Stages against baselines: the comparison table in the TwT paper's form, the per-query
drill-down, the run's configuration summary and the written report.

Methods are compared on the same queries only: the intersection of the query ids every
compared method has a result for. The change of each method is measured against the best
baseline (highest accuracy, then fewest output tokens) among the vanilla student, the
direct-answer student, standard KD, distilling step-by-step and full-reasoning SFT; without
a separate `sft` result, stage 1 (which is exactly full-reasoning SFT) stands in for it.
Each row gives its accuracy with a 95% Wilson score interval (`ci_low`, `ci_high`) and the
prompt mode its outputs were asked under; a method's outputs of an older prompt mode (a
re-evaluation under way) are never mixed in.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from twt_backend.config import GenerationConfig, LoraConfig, SelectionConfig, TrainingConfig
from twt_backend.errors import UsageError
from twt_backend.evaluation.teacher_eval import TEACHER_PREFIX
from twt_backend.settings import load_config
from twt_backend.store import Project, utcnow

BASELINES = ("stage0", "direct", "kd", "dss", "sft")
BASELINE_NAMES = {
    "stage0": "Vanilla student",
    "direct": "Direct answer (untrained)",
    "kd": "Standard KD",
    "dss": "Distilling step-by-step",
    "sft": "Full-reasoning SFT",
}
STAGE_KINDS = {1: "full reasoning", 2: "compressed reasoning", 3: "reasoning-free"}
CSV_FIELDS = (
    "method",
    "display",
    "kind",
    "n",
    "n_total",
    "correct",
    "accuracy",
    "ci_low",
    "ci_high",
    "mean_output_tokens",
    "prompt_mode",
    "delta_accuracy_pts",
    "delta_tokens_pct",
    "best_baseline",
)
PNG_NAMES = ("accuracy_vs_tokens.png", "accuracy.png", "token_histograms.png")

Results = dict[str, dict[int, tuple[int | None, int]]]  # method -> query id -> (tokens, correct)
CONFIDENCE = 0.95


def wilson_interval(correct: int, n: int) -> tuple[float | None, float | None]:
    """The 95% Wilson score interval of an accuracy of `correct` out of `n` (None, None
    when n is 0)."""
    if n <= 0:
        return None, None
    from scipy.stats import binomtest

    interval = binomtest(correct, n).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return float(interval.low), float(interval.high)


def split_method(method: str) -> tuple[str, str | None]:
    """``stage3@answer`` -> ("stage3", "answer"); a plain method -> (method, None)."""
    base, _, mode = method.partition("@")
    return base, mode or None


# ---- comparison ----------------------------------------------------------------------------
def comparison(project: Project, methods: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """One row per method (baselines first, then stages): accuracy with its 95% Wilson
    interval and mean output tokens on the queries every method answered, the prompt mode,
    and the change against the best baseline."""
    results, modes = _load_with_modes(project, methods)
    rows = _rows(project, _common(results), {m: len(r) for m, r in results.items()})
    for row in rows:
        row["prompt_mode"] = modes.get(row["method"])
    return rows


def per_query(project: Project, query_id: int) -> dict[str, dict[str, Any]]:
    """What each method answered for one query: output, answer, correct, tokens."""
    rows = project.rows(
        "SELECT method, output, answer, correct, tokens FROM eval_results WHERE query_id=?",
        (query_id,),
    )
    by_method = {r.pop("method"): r for r in rows}
    for row in by_method.values():
        row["correct"] = None if row["correct"] is None else bool(row["correct"])
    return {m: by_method[m] for m in _ordered(by_method)}


def token_counts(project: Project, methods: Sequence[str] | None = None) -> dict[str, list[int]]:
    """Output-token counts per method on the common query set (for histograms)."""
    common = _common(_load(project, methods))
    return {
        m: [tokens for tokens, _ in common[m].values() if tokens is not None]
        for m in _ordered(common)
    }


def _load(project: Project, methods: Sequence[str] | None) -> Results:
    return _load_with_modes(project, methods)[0]


def _load_with_modes(
    project: Project, methods: Sequence[str] | None
) -> tuple[Results, dict[str, str | None]]:
    """Results per method, of each method's latest prompt mode only, and that mode."""
    rows = project.rows(
        "SELECT method, query_id, tokens, correct, prompt_mode FROM eval_results ORDER BY id"
    )
    modes: dict[str, str | None] = {}
    for row in rows:  # the last written row of a method says its current prompt mode
        modes[row["method"]] = row["prompt_mode"]
    results: Results = {}
    for row in rows:
        if (methods is None or row["method"] in methods) and (
            row["prompt_mode"] == modes[row["method"]]
        ):
            results.setdefault(row["method"], {})[row["query_id"]] = (
                row["tokens"],
                int(row["correct"] or 0),
            )
    if methods is not None:
        missing = sorted(set(methods) - set(results))
        if missing:
            raise UsageError(f"no evaluation results for method(s) {', '.join(missing)}")
    return results, {m: modes[m] for m in results}


def _common(results: Results) -> Results:
    """The results restricted to the query ids every method has."""
    if not results:
        return {}
    shared = set.intersection(*(set(r) for r in results.values()))
    return {m: {q: r[q] for q in shared} for m, r in results.items()}


def _ordered(methods: Any) -> list[str]:
    def key(method: str) -> tuple[int, int, str]:
        base, mode = split_method(method)
        if base.startswith(TEACHER_PREFIX):
            return (-1, 0, method)  # the teachers first, as in the paper's tables
        if base in BASELINES and not (base == "stage0" and mode):
            return (0, BASELINES.index(base), method)
        if base.startswith("stage") and base[5:].isdigit():
            return (1, int(base[5:]), method)
        return (2, 0, method)

    return sorted(methods, key=key)


def _n_stages(project: Project, methods: Any) -> int:
    stored = int(project.get_meta("n_stages") or 3)
    return 4 if "stage4" in methods or stored == 4 else 3


def display_name(method: str, methods: Any, n_stages: int = 3) -> tuple[str, str]:
    """(display name, kind) of a method; kind is baseline, twt, teacher or other."""
    base, mode = split_method(method)
    if mode:
        name, kind = display_name(base, methods, n_stages)
        return f"{name}, asked in prompt mode {mode}", kind
    if method in BASELINE_NAMES:
        return BASELINE_NAMES[method], "baseline"
    if method.startswith(TEACHER_PREFIX):
        return f"Teacher {method.removeprefix(TEACHER_PREFIX)}", "teacher"
    if method == "stage1" and "sft" not in methods:
        return "Full-reasoning SFT (stage 1)", "baseline"
    if method.startswith("stage") and method[5:].isdigit():
        stage = int(method[5:])
        if stage == n_stages:
            what = "reasoning-free"
        elif stage > 1:
            what = "compressed reasoning" + (f", round {stage - 1}" if n_stages == 4 else "")
        else:
            what = STAGE_KINDS.get(stage, "")
        return f"TwT stage {stage} ({what})", "twt"
    return method, "other"


def _rows(project: Project, common: Results, totals: dict[str, int]) -> list[dict[str, Any]]:
    n_stages = _n_stages(project, common)
    rows = []
    for method in _ordered(common):
        results = common[method]
        tokens = [t for t, _ in results.values() if t is not None]
        correct = sum(c for _, c in results.values())
        display, kind = display_name(method, common, n_stages)
        ci_low, ci_high = wilson_interval(correct, len(results))
        rows.append(
            {
                "method": method,
                "display": display,
                "kind": kind,
                "n": len(results),
                "n_total": totals[method],
                "correct": correct,
                "accuracy": correct / len(results) if results else None,
                "ci_low": ci_low,
                "ci_high": ci_high,
                "mean_output_tokens": sum(tokens) / len(tokens) if tokens else None,
            }
        )
    _add_deltas(rows)
    return rows


def _add_deltas(rows: list[dict[str, Any]]) -> None:
    baselines = [r for r in rows if r["kind"] == "baseline" and r["accuracy"] is not None]
    best = (
        max(baselines, key=lambda r: (r["accuracy"], -(r["mean_output_tokens"] or 0)))
        if baselines
        else None
    )
    for row in rows:
        row["best_baseline"] = row is best
        row["delta_accuracy_pts"] = None
        row["delta_tokens_pct"] = None
        if best is None or row["accuracy"] is None:
            continue
        row["delta_accuracy_pts"] = 100.0 * (row["accuracy"] - best["accuracy"])
        base_tokens, tokens = best["mean_output_tokens"], row["mean_output_tokens"]
        if base_tokens and tokens is not None:
            row["delta_tokens_pct"] = 100.0 * (tokens - base_tokens) / base_tokens


# ---- configuration summary (never a secret) --------------------------------------------------
def _public_url(url: str | None) -> str | None:
    """A base URL without user info, query or fragment (where credentials could hide)."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def teachers_summary(project: Project) -> list[dict[str, Any]]:
    """Teachers by name, provider, model and public base URL: no key, no key source."""
    rows = project.rows("SELECT name, provider, model, config, enabled FROM teachers ORDER BY id")
    return [
        {
            "name": r["name"],
            "provider": r["provider"],
            "model": r["model"],
            "base_url": _public_url(json.loads(r["config"] or "{}").get("base_url")),
            "enabled": bool(r["enabled"]),
        }
        for r in rows
    ]


def config_summary(project: Project) -> dict[str, Any]:
    """The project's configuration as plain data, safe to publish."""
    splits = project.rows("SELECT split, COUNT(*) AS n FROM queries GROUP BY split ORDER BY split")
    selection = load_config(project, SelectionConfig)
    return {
        "project": project.name,
        "task": project.task,
        "queries": {r["split"]: r["n"] for r in splits},
        "teachers": teachers_summary(project),
        "selection": {
            "strategy": selection.strategy,
            "threshold": selection.threshold,
            "min_teachers": selection.min_teachers,
            "embedder": selection.embedder,
        },
        "n_stages": int(project.get_meta("n_stages") or 3),
        "training": dataclasses.asdict(load_config(project, TrainingConfig)),
        "lora": dataclasses.asdict(load_config(project, LoraConfig)),
        "generation": dataclasses.asdict(load_config(project, GenerationConfig)),
    }


def next_steps(project: Project) -> list[str]:
    """What to run to get something to compare."""
    root = project.root
    steps = []
    if not project.scalar("SELECT COUNT(*) FROM queries WHERE split='test'"):
        steps.append(f"twt import {root} TEST_FILE --split test")
    steps.append(f"twt eval {root} --stage 0")
    steps.append(f"twt eval {root} --stage 1   (after `twt train {root} --stage 1`)")
    return steps


# ---- the written report --------------------------------------------------------------------
def write_report(project: Project, out_dir: str | Path) -> Path:
    """report.html (plots embedded), comparison.csv, comparison.json and the PNGs."""
    from twt_backend.evaluation import plots
    from twt_backend.evaluation.report_html import render_html

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    rows = comparison(project)
    payload = {
        "project": project.name,
        "task": project.task,
        "generated_at": utcnow(),
        "n_common": rows[0]["n"] if rows else 0,
        "best_baseline": next((r["method"] for r in rows if r["best_baseline"]), None),
        "rows": rows,
        "config": config_summary(project),
        "next_steps": [] if rows else next_steps(project),
    }
    images: dict[str, bytes] = {}
    if rows and payload["n_common"]:
        images = {
            PNG_NAMES[0]: plots.scatter_png(rows),
            PNG_NAMES[1]: plots.accuracy_bars_png(rows),
            PNG_NAMES[2]: plots.histograms_png(token_counts(project), rows),
        }
    for name in PNG_NAMES:  # never leave a stale plot beside a newer report
        (out / name).unlink(missing_ok=True)
    for name, data in images.items():
        (out / name).write_bytes(data)
    _write_csv(out / "comparison.csv", rows)
    (out / "comparison.json").write_text(json.dumps(payload, indent=2), encoding="utf-8")
    html_path = out / "report.html"
    html_path.write_text(render_html(payload, images), encoding="utf-8")
    return html_path


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)

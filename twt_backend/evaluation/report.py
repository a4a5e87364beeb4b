"""Stages against baselines: the comparison table in the TwT paper's form, the per-query
drill-down, the run's configuration summary and the written report.

Methods are compared on the same queries only: the intersection of the query ids every
compared method has a current result for. The change of each method is measured against
the best baseline (highest accuracy, then fewest output tokens) among the vanilla student,
the direct-answer student, standard KD, distilling step-by-step and full-reasoning SFT;
without a separate `sft` result, stage 1 (which is exactly full-reasoning SFT) stands in
for it. Each row gives its accuracy with a 95% Wilson score interval (`ci_low`,
`ci_high`), output tokens (mean, median, p90), the distribution of its predicted answers,
McNemar exact p-values against stage 1 and against the best baseline on the common
queries, and the prompt mode and adapter hash its outputs were made with. A choice task,
and a math task whose gold answers repeat, get a majority-class row (always the most
frequent gold answer), never a best baseline.

Outputs of another provenance than a method's current one (evaluation/freshness.py: made
by an older adapter, under an older prompt mode or generation setting) are never mixed in:
they are counted (`n_stale`); a method with only stale outputs gets a row flagged `stale`
on its own queries, compared with nothing.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from twt_backend.config import GenerationConfig, LoraConfig, SelectionConfig, TrainingConfig
from twt_backend.errors import UsageError
from twt_backend.evaluation.freshness import current_adapter_sha256, training_data_changed
from twt_backend.evaluation.statistics import (
    answer_distribution,
    majority_results,
    mcnemar_exact,
    token_stats,
)
from twt_backend.evaluation.teacher_eval import TEACHER_PREFIX
from twt_backend.settings import load_config
from twt_backend.store import Project, utcnow

MAJORITY = "majority"
MAJORITY_TASKS = ("choice", "math")  # code has tests, no answer to repeat
MAJORITY_MIN_QUERIES = 20
MAJORITY_MIN_SHARE = 0.10
BASELINES = (MAJORITY, "stage0", "direct", "kd", "dss", "sft")
BASELINE_NAMES = {
    MAJORITY: "Majority class (always the most frequent gold answer)",
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
    "median_output_tokens",
    "p90_output_tokens",
    "prompt_mode",
    "adapter_sha256",
    "stale",
    "n_stale",
    "p_vs_stage1",
    "p_vs_best_baseline",
    "delta_accuracy_pts",
    "delta_tokens_pct",
    "best_baseline",
)
PNG_NAMES = ("accuracy_vs_tokens.png", "accuracy.png", "token_histograms.png")

STALE_ADAPTER = "made by another adapter than the current one: run `twt eval` again"
STALE_DATA = "its training data changed since it was trained: retrain it, then `twt eval`"
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
@dataclass
class Outputs:
    """A method's stored outputs of its current provenance (see the module)."""

    results: dict[int, tuple[int | None, int]]  # query id -> (tokens, correct)
    answers: dict[int, str | None]
    prompt_mode: str | None
    adapter_sha256: str | None
    n_stale: int = 0  # rows left out: of another provenance than the current one
    stale_reason: str | None = None  # set: every output of the method is stale

    @property
    def stale(self) -> bool:
        return self.stale_reason is not None


def load_outputs(project: Project, methods: Sequence[str] | None = None) -> dict[str, Outputs]:
    """Per method, its outputs of the current provenance: made by the adapter the method
    has now (its weights hash), and of the provenance (prompt mode, base model, generation
    settings) of its latest written row. A method whose outputs were all made by another
    adapter, or whose adapter was trained on data that changed since, is stale as a whole."""
    rows = project.rows(
        "SELECT method, query_id, tokens, correct, answer, prompt_mode, adapter_sha256, "
        "provenance FROM eval_results ORDER BY id"
    )
    by_method: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if methods is None or row["method"] in methods:
            by_method.setdefault(row["method"], []).append(row)
    if methods is not None:
        missing = sorted(set(methods) - set(by_method))
        if missing:
            raise UsageError(f"no evaluation results for method(s) {', '.join(missing)}")
    return {m: _current(project, m, method_rows) for m, method_rows in by_method.items()}


def _current(project: Project, method: str, rows: list[dict[str, Any]]) -> Outputs:
    adapter_hash = current_adapter_sha256(project, method)
    matching = [r for r in rows if r["adapter_sha256"] == adapter_hash]
    reason = None
    if not matching:
        matching, reason = rows, STALE_ADAPTER
    elif training_data_changed(project, method):
        reason = STALE_DATA
    latest = matching[-1]  # the last written row says the current provenance
    identity = (latest["provenance"], latest["prompt_mode"])
    current = [r for r in matching if (r["provenance"], r["prompt_mode"]) == identity]
    return Outputs(
        results={r["query_id"]: (r["tokens"], int(r["correct"] or 0)) for r in current},
        answers={r["query_id"]: r["answer"] for r in current},
        prompt_mode=latest["prompt_mode"],
        adapter_sha256=latest["adapter_sha256"],
        n_stale=len(rows) - len(current),
        stale_reason=reason,
    )


def shared_queries(outputs: dict[str, Outputs]) -> set[int]:
    """The query ids every method that is not stale has a current result for."""
    fresh = [set(o.results) for o in outputs.values() if not o.stale]
    return set.intersection(*fresh) if fresh else set()


def comparison(project: Project, methods: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """One row per method (baselines first, then stages): accuracy with its 95% Wilson
    interval, output tokens (mean, median, p90) and the predicted answers' distribution on
    the queries every current method answered, the prompt mode and adapter, McNemar exact
    p-values against stage 1 and the best baseline, and the change against the best
    baseline. A stale method's row stands on its own queries, flagged and compared with
    nothing. A majority-class row (always the most frequent gold answer: what a student
    that says one thing scores) comes with every choice task, and with a math task whose
    answers repeat (see :func:`_majority_informative`)."""
    outputs = load_outputs(project, methods)
    shared = shared_queries(outputs)
    if project.task in MAJORITY_TASKS and shared and MAJORITY not in outputs:
        majority = _majority(project, shared)
        if _majority_informative(project.task, majority):
            outputs[MAJORITY] = majority
    n_stages = _n_stages(project, outputs)
    rows = [_row(m, outputs[m], shared, outputs, n_stages) for m in _ordered(outputs)]
    _add_deltas(rows)
    _add_p_values(rows, outputs, shared)
    return rows


def _majority_informative(task: str, majority: Outputs) -> bool:
    """Always for a choice task; for a math task when one answer is the gold answer of at
    least `MAJORITY_MIN_SHARE` of at least `MAJORITY_MIN_QUERIES` queries (small-number
    answers, as in the demo), so a student that repeats one number does not look like it
    learnt something; GSM8K's answers hardly repeat, and a row near 0% says nothing."""
    if task == "choice":
        return True
    n = len(majority.results)
    correct = sum(c for _, c in majority.results.values())
    return n >= MAJORITY_MIN_QUERIES and correct >= MAJORITY_MIN_SHARE * n


def _majority(project: Project, shared: set[int]) -> Outputs:
    marks = ",".join("?" * len(shared))
    refs = {
        r["id"]: r["reference"]
        for r in project.rows(
            f"SELECT id, reference FROM queries WHERE id IN ({marks})", tuple(sorted(shared))
        )
    }
    results = majority_results(refs)
    return Outputs(
        results={q: (None, correct) for q, (_, correct) in results.items()},
        answers={q: label for q, (label, _) in results.items()},
        prompt_mode=None,
        adapter_sha256=None,
    )


def _row(
    method: str, outputs: Outputs, shared: set[int], every: Any, n_stages: int
) -> dict[str, Any]:
    queries = set(outputs.results) if outputs.stale else shared
    results = {q: outputs.results[q] for q in queries}
    correct = sum(c for _, c in results.values())
    tokens = token_stats(t for t, _ in results.values())
    display, kind = display_name(method, every, n_stages)
    ci_low, ci_high = wilson_interval(correct, len(results))
    return {
        "method": method,
        "display": display,
        "kind": kind,
        "n": len(results),
        "n_total": len(outputs.results),
        "correct": correct,
        "accuracy": correct / len(results) if results else None,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "mean_output_tokens": tokens["mean"],
        "median_output_tokens": tokens["median"],
        "p90_output_tokens": tokens["p90"],
        "prompt_mode": outputs.prompt_mode,
        "adapter_sha256": outputs.adapter_sha256,
        "stale": outputs.stale,
        "stale_reason": outputs.stale_reason,
        "n_stale": outputs.n_stale,
        "answer_distribution": answer_distribution(outputs.answers[q] for q in queries),
    }


def _add_p_values(rows: list[dict[str, Any]], outputs: dict[str, Outputs], shared: set[int]):
    def correctness(method: str) -> dict[int, int]:
        return {q: outputs[method].results[q][1] for q in shared}

    fresh = {r["method"] for r in rows if not r["stale"]}
    best = next((r["method"] for r in rows if r["best_baseline"]), None)
    for row in rows:
        for key, other in (("p_vs_stage1", "stage1"), ("p_vs_best_baseline", best)):
            row[key] = None
            method = row["method"]
            if other is not None and other in fresh and method in fresh and method != other:
                row[key] = mcnemar_exact(correctness(method), correctness(other))


def per_query(project: Project, query_id: int) -> dict[str, dict[str, Any]]:
    """What each method answered for one query: output, answer, correct, tokens, and
    whether that output is stale (not of the method's current provenance)."""
    rows = project.rows(
        "SELECT method, output, answer, correct, tokens, adapter_sha256, provenance, "
        "prompt_mode FROM eval_results WHERE query_id=?",
        (query_id,),
    )
    by_method = {r.pop("method"): r for r in rows}
    for method, row in by_method.items():
        row["correct"] = None if row["correct"] is None else bool(row["correct"])
        identity = (row.pop("adapter_sha256"), row.pop("provenance"), row.pop("prompt_mode"))
        row["stale"] = identity != _current_identity(project, method)
    return {m: by_method[m] for m in _ordered(by_method)}


def _current_identity(project: Project, method: str) -> tuple[Any, ...] | None:
    """(adapter hash, provenance key, prompt mode) of a method's current outputs (see
    `load_outputs`); None when all its outputs are stale."""
    adapter_hash = current_adapter_sha256(project, method)
    latest = project.rows(
        "SELECT provenance, prompt_mode FROM eval_results WHERE method=? AND adapter_sha256 IS ?"
        " ORDER BY id DESC LIMIT 1",
        (method, adapter_hash),
    )
    if not latest or training_data_changed(project, method):
        return None
    return adapter_hash, latest[0]["provenance"], latest[0]["prompt_mode"]


def token_counts(project: Project, methods: Sequence[str] | None = None) -> dict[str, list[int]]:
    """Output-token counts per current method on the common query set (for histograms)."""
    outputs = load_outputs(project, methods)
    shared = shared_queries(outputs)
    return {
        m: [t for q in shared if (t := outputs[m].results[q][0]) is not None]
        for m in _ordered(outputs)
        if not outputs[m].stale
    }


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
    """(display name, kind) of a method; kind is baseline, twt, teacher (``teacher:NAME``)
    or other."""
    base, mode = split_method(method)
    if mode:
        name, kind = display_name(base, methods, n_stages)
        return f"{name}, asked in prompt mode {mode}", kind
    if method in BASELINE_NAMES:
        return BASELINE_NAMES[method], "baseline"
    if method.startswith(TEACHER_PREFIX):  # a teacher that answered the test split
        return f"Teacher {method[len(TEACHER_PREFIX) :]}", "teacher"
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


def _add_deltas(rows: list[dict[str, Any]]) -> None:
    baselines = [
        r
        for r in rows
        if r["kind"] == "baseline"
        and r["accuracy"] is not None
        and not r["stale"]
        and r["method"] != MAJORITY
    ]
    best = (
        max(baselines, key=lambda r: (r["accuracy"], -(r["mean_output_tokens"] or 0)))
        if baselines
        else None
    )
    for row in rows:
        row["best_baseline"] = row is best
        row["delta_accuracy_pts"] = None
        row["delta_tokens_pct"] = None
        if best is None or row["accuracy"] is None or row["stale"]:
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
        "refinement": refinement_summary(project),
        "training": dataclasses.asdict(load_config(project, TrainingConfig)),
        "lora": dataclasses.asdict(load_config(project, LoraConfig)),
        "generation": dataclasses.asdict(load_config(project, GenerationConfig)),
    }


def refinement_summary(project: Project) -> dict[str, Any]:
    """Per refinement round: rewrites by status, and the samples without a usable rewrite
    kept on their earlier rationale or dropped (the training setting `failed_rewrites`)."""
    from twt_backend.stage_data import failed_rewrite_counts

    rounds = project.rows(
        "SELECT round, status, COUNT(*) AS n FROM refinements GROUP BY round, status"
    )
    summary: dict[str, Any] = {}
    for row in rounds:
        summary.setdefault(f"round {row['round']}", {"status": {}})["status"][row["status"]] = row[
            "n"
        ]
    drop = load_config(project, TrainingConfig).failed_rewrites == "drop"
    for key, value in summary.items():
        value["without_usable_rewrite"] = failed_rewrite_counts(project, int(key.split()[1]), drop)
    return summary


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
        "n_common": next((r["n"] for r in rows if not r["stale"]), 0),
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

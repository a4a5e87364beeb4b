"""The comparison as `twt report --json` prints it and the app's Compare page shows it: rows
of one or several (project, run) sources, plus what the page reads of one project.

Contract of a row (tests and other tools read it): ``project`` (the folder), ``run``,
``method``, ``kind`` (baseline | twt | teacher), ``n``, ``correct``, ``accuracy``,
``ci_low``, ``ci_high`` (95% Wilson interval), ``mean_output_tokens``,
``median_output_tokens``, ``p90_output_tokens``, ``prompt_mode``, ``adapter_sha256`` (null
for an untrained student), ``stale`` (bool), ``p_vs_stage1`` (McNemar exact, null for
stage 1 itself or without it); extra keys: ``p_vs_best_baseline``, ``answer_distribution``
(predicted answer -> count), ``n_stale``, ``stale_reason``, ``display``, ``n_total``,
``best_baseline``, ``delta_accuracy_pts``, ``delta_tokens_pct``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from twt_backend.evaluation import report
from twt_backend.store import Project

# one query's answers per method, a method's display name, the HTML report with its files
per_query = report.per_query
display_name = report.display_name
write_report = report.write_report

MAIN_RUN = "main"  # until a project holds named runs, all its outputs belong to this one
CONTRACT_KEYS = (
    "project",
    "run",
    "method",
    "kind",
    "n",
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
    "p_vs_stage1",
)

Source = tuple[str | Path, str]  # (project folder, run name)


def project_rows(project: Project, run: str = MAIN_RUN) -> list[dict[str, Any]]:
    """The comparison rows of one run of an open project, contract keys first."""
    rows = []
    for row in report.comparison(project):
        head = {"project": str(project.root), "run": run}
        rows.append({**head, **{k: row[k] for k in CONTRACT_KEYS if k in row}, **row})
    return rows


def report_rows(sources: Sequence[Source]) -> list[dict[str, Any]]:
    """Rows of every (project, run) source, in the order given; each source is compared
    within itself (its own common queries, best baseline and p-values)."""
    from twt_backend.store import variants

    rows: list[dict[str, Any]] = []
    for folder, run in sources:
        with Project.open(folder, readonly=True) as project:
            if run == MAIN_RUN:
                rows.extend(project_rows(project, run))
                continue
            with variants.open_run(project, run, True) as store:  # a named run's own store
                rows.extend(
                    {**row, "project": str(project.root)} for row in project_rows(store, run)
                )
    return rows


def split_sizes(project: Project) -> dict[str, int]:
    """Number of queries per split (train, validation, test, ...)."""
    return {
        row["split"]: row["n"]
        for row in project.rows(
            "SELECT split, COUNT(*) AS n FROM queries GROUP BY split ORDER BY split"
        )
    }


def queries_with_results(project: Project, after_id: int, limit: int) -> list[dict[str, Any]]:
    """Queries with an evaluation result, after `after_id` in id order: id, source_id,
    reference, payload and `results` (method -> correct as 0/1/None)."""
    rows = project.rows(
        "SELECT q.id, q.source_id, q.reference, q.payload,"
        " json_group_object(e.method, e.correct) AS results"
        " FROM queries q JOIN eval_results e ON e.query_id = q.id"
        " WHERE q.id > ? GROUP BY q.id ORDER BY q.id LIMIT ?",
        (after_id, limit),
    )
    for row in rows:
        row["results"] = json.loads(row["results"] or "{}")
    return rows

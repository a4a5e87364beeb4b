"""Review statistics of a selection, as plain data for the GUI and the CLI.

Every function reads the store only and returns lists/dicts of numbers and strings.
"Kept" always means the effective decision (a manual override wins).
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from twt_backend.selection.samples import EFFECTIVE_SELECTED
from twt_backend.store import Project

ALL_TEACHERS = "*"

_LABELS = """
FROM generations g JOIN teachers t ON t.id = g.teacher_id
LEFT JOIN selections s ON s.generation_id = g.id
WHERE g.status = 'ok' AND g.purpose = 'label'
"""


def _bucket(confidence: float, bins: int) -> int:
    return min(max(int(confidence * bins), 0), bins - 1)


def _edges(bins: int) -> list[float]:
    return [round(i / bins, 10) for i in range(bins + 1)]


def confidence_histograms(project: Project, bins: int = 10) -> dict[str, dict[str, Any]]:
    """Per teacher: `edges` (bins + 1 values over [0, 1]), `counts`, `missing` (no
    confidence) and `n`. The last bin includes 1.0."""
    hist: dict[str, dict[str, Any]] = {}
    for teacher, confidence in project.conn.execute(f"SELECT t.name, g.confidence {_LABELS}"):
        h = hist.setdefault(
            teacher, {"edges": _edges(bins), "counts": [0] * bins, "missing": 0, "n": 0}
        )
        h["n"] += 1
        if confidence is None:
            h["missing"] += 1
        else:
            h["counts"][_bucket(confidence, bins)] += 1
    return dict(sorted(hist.items()))


def reason_counts(project: Project) -> dict[str, Any]:
    """Automatic decisions by reason, manual overrides, and outputs never selected.

    {"kept": {reason: n}, "rejected": {reason: n}, "overrides": {"accept": n, "reject": n},
     "unselected": n, "effective_kept": n, "total": n}
    """
    out: dict[str, Any] = {
        "kept": {},
        "rejected": {},
        "overrides": {"accept": 0, "reject": 0},
        "unselected": 0,
    }
    rows = project.conn.execute(
        f"SELECT s.selected, s.reason, s.override, COUNT(*) {_LABELS}"
        " GROUP BY s.selected, s.reason, s.override"
    )
    for selected, reason, override, n in rows:
        if reason is None:
            out["unselected"] += n
        else:
            side = out["kept" if selected else "rejected"]
            side[reason] = side.get(reason, 0) + n
        if override:
            out["overrides"][override] += n
    out["effective_kept"] = int(
        project.scalar(f"SELECT COUNT(*) {_LABELS} AND {EFFECTIVE_SELECTED}=1")
    )
    out["total"] = int(project.scalar(f"SELECT COUNT(*) {_LABELS}"))
    return out


def similarity_matrix(project: Project, query_id: int) -> dict[str, Any]:
    """The pairwise similarities of one query's diversity step.

    {"query_id", "model", "generation_ids", "teachers", "matrix" (symmetric, 1.0 on the
    diagonal), "kept_pair" ([a, b] or None)}; empty lists when no diversity step ran.
    """
    pairs = project.rows(
        "SELECT generation_a, generation_b, model, similarity FROM similarities"
        " WHERE query_id=? ORDER BY generation_a, generation_b",
        (query_id,),
    )
    ids = sorted({p["generation_a"] for p in pairs} | {p["generation_b"] for p in pairs})
    index = {gid: i for i, gid in enumerate(ids)}
    matrix = [[1.0 if i == j else 0.0 for j in range(len(ids))] for i in range(len(ids))]
    for p in pairs:
        i, j = index[p["generation_a"]], index[p["generation_b"]]
        matrix[i][j] = matrix[j][i] = p["similarity"]
    teachers: list[str] = []
    kept: list[int] = []
    if ids:
        marks = ",".join("?" * len(ids))
        names = dict(
            project.conn.execute(
                "SELECT g.id, t.name FROM generations g JOIN teachers t ON t.id = g.teacher_id"
                f" WHERE g.id IN ({marks})",
                ids,
            ).fetchall()
        )
        teachers = [names[gid] for gid in ids]
        kept = [
            row[0]
            for row in project.conn.execute(
                f"SELECT generation_id FROM selections WHERE generation_id IN ({marks})"
                " AND reason='diverse_pair' ORDER BY generation_id",
                ids,
            )
        ]
    return {
        "query_id": query_id,
        "model": pairs[0]["model"] if pairs else None,
        "generation_ids": ids,
        "teachers": teachers,
        "matrix": matrix,
        "kept_pair": kept if len(kept) == 2 else None,
    }


def calibration(project: Project, bins: int = 10) -> list[dict[str, Any]]:
    """Accuracy of kept vs rejected outputs per teacher and confidence bucket.

    Only outputs of queries with a reference answer and a confidence count; correctness
    compares the teacher's original answer with the reference using the task's scorer.
    Code tasks need the sandbox to score, so they give no rows here. Rows with teacher
    `"*"` aggregate all teachers. Accuracies are None where a group is empty.
    """
    from twt_backend.tasks import get_task

    task = get_task(project.task)
    if task.needs_sandbox:
        return []
    rows = project.conn.execute(
        f"SELECT t.name, g.answer, g.confidence, q.reference, q.payload, {EFFECTIVE_SELECTED}"
        " FROM generations g JOIN teachers t ON t.id = g.teacher_id"
        " JOIN queries q ON q.id = g.query_id LEFT JOIN selections s ON s.generation_id = g.id"
        " WHERE g.status = 'ok' AND g.purpose = 'label'"
        " AND q.reference IS NOT NULL AND g.confidence IS NOT NULL"
    )
    tally: dict[tuple[str, int], dict[str, int]] = defaultdict(
        lambda: {"kept_n": 0, "kept_correct": 0, "rejected_n": 0, "rejected_correct": 0}
    )
    for teacher, answer, confidence, reference, payload, kept in rows:
        correct = int(bool(answer) and task.is_correct(answer, reference, json.loads(payload)))
        side = "kept" if kept else "rejected"
        for who in (teacher, ALL_TEACHERS):
            cell = tally[(who, _bucket(confidence, bins))]
            cell[f"{side}_n"] += 1
            cell[f"{side}_correct"] += correct
    return [
        _calibration_row(who, bucket, bins, cell) for (who, bucket), cell in sorted(tally.items())
    ]


def _calibration_row(teacher: str, bucket: int, bins: int, cell: dict[str, int]) -> dict[str, Any]:
    n = cell["kept_n"] + cell["rejected_n"]
    correct = cell["kept_correct"] + cell["rejected_correct"]

    def rate(c: int, total: int) -> float | None:
        return c / total if total else None

    return {
        "teacher": teacher,
        "low": round(bucket / bins, 10),
        "high": round((bucket + 1) / bins, 10),
        **cell,
        "kept_accuracy": rate(cell["kept_correct"], cell["kept_n"]),
        "rejected_accuracy": rate(cell["rejected_correct"], cell["rejected_n"]),
        "n": n,
        "accuracy": rate(correct, n),
    }


def teacher_summary(project: Project) -> list[dict[str, Any]]:
    """One row per teacher for the `twt select` table: outputs, parse failures, kept by the
    automatic step, manual accepts/rejects, effectively kept, mean confidence."""
    rows = project.rows(
        f"""SELECT t.name AS teacher, COUNT(*) AS outputs,
            SUM(s.reason LIKE 'parse_failed%') AS parse_failed,
            SUM(s.reason IN ('no_confidence', 'low_confidence', 'no_logprob', 'low_logprob'))
                AS below_quality,
            SUM(s.reason IN ('disagrees', 'no_majority')) AS disagreeing,
            SUM(s.reason IN ('not_diverse', 'teacher_duplicate')) AS not_diverse,
            SUM(COALESCE(s.selected, 0)) AS auto_kept,
            SUM(s.override = 'accept') AS accepted, SUM(s.override = 'reject') AS rejected,
            SUM({EFFECTIVE_SELECTED}) AS kept, AVG(g.confidence) AS mean_confidence
        {_LABELS} GROUP BY t.name ORDER BY t.name"""
    )
    for row in rows:
        for key, value in row.items():
            if value is None and key != "mean_confidence":
                row[key] = 0
    return rows

"""Reading samples: the curation listing and the distillation set G.

The effective decision of a generation is its manual override when there is one, else the
automatic selection (no selection yet counts as not selected). Its effective content is
the latest edit when there is one, else the teacher's original.
"""

from __future__ import annotations

import json
from typing import Any

from twt_backend.store import Project
from twt_backend.store.samples_repo import EFFECTIVE_SELECTED

_FROM = """
FROM generations g
JOIN teachers t ON t.id = g.teacher_id
JOIN queries q ON q.id = g.query_id
LEFT JOIN selections s ON s.generation_id = g.id
LEFT JOIN sample_edits e ON e.generation_id = g.id
    AND e.version = (SELECT MAX(version) FROM sample_edits WHERE generation_id = g.id)
WHERE g.status = 'ok' AND g.purpose = 'label'
"""

_COLUMNS = f"""
SELECT g.id, g.query_id, t.name AS teacher,
    COALESCE(e.rationale, g.rationale) AS rationale, COALESCE(e.answer, g.answer) AS answer,
    g.confidence, g.parse_status, g.logprob_mean, {EFFECTIVE_SELECTED} AS selected,
    s.selected AS auto_selected, s.strategy, s.reason, s.score, s.similarity,
    s.override, s.override_note, s.override_at, COALESCE(e.version, 0) AS edit_version
"""


def _filters(
    query_id: int | None, selected: bool | None, teacher: str | None
) -> tuple[str, list[Any]]:
    sql = ""
    params: list[Any] = []
    if query_id is not None:
        sql += " AND g.query_id = ?"
        params.append(query_id)
    if selected is not None:
        sql += f" AND {EFFECTIVE_SELECTED} = ?"
        params.append(int(selected))
    if teacher is not None:
        sql += " AND t.name = ?"
        params.append(teacher)
    return sql, params


def _as_sample(row: dict[str, Any]) -> dict[str, Any]:
    row["selected"] = bool(row["selected"])
    if row["auto_selected"] is not None:
        row["auto_selected"] = bool(row["auto_selected"])
    return row


def list_samples(
    project: Project,
    query_id: int | None = None,
    selected: bool | None = None,
    teacher: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Completed label generations with their decision, in (query, id) order.

    `selected` filters on the effective decision; `limit`/`offset` page through the rows
    (for lazily loading tables).
    """
    where, params = _filters(query_id, selected, teacher)
    sql = f"{_COLUMNS} {_FROM} {where} ORDER BY g.query_id, g.id"
    if limit is not None:
        sql += " LIMIT ? OFFSET ?"
        params += [limit, offset]
    return [_as_sample(row) for row in project.rows(sql, tuple(params))]


def count_samples(
    project: Project,
    query_id: int | None = None,
    selected: bool | None = None,
    teacher: str | None = None,
) -> int:
    where, params = _filters(query_id, selected, teacher)
    return int(project.scalar(f"SELECT COUNT(*) {_FROM} {where}", tuple(params)))


def effective_samples(project: Project, split: str | None = "train") -> list[dict[str, Any]]:
    """The distillation set G: one row per effectively selected generation.

    Each row: generation_id, query_id, source_id, split, payload (dict), reference,
    teacher, rationale (latest edit or original, "" when none), answer (latest edit or
    original), confidence, edit_version. Rows without an answer are left out (a sample
    accepted by hand despite a failed parse needs an edited answer first). `split=None`
    takes every split; the default keeps test queries out of training.
    """
    sql = f"""
        SELECT g.id AS generation_id, g.query_id, q.source_id, q.split, q.payload, q.reference,
            t.name AS teacher, COALESCE(e.rationale, g.rationale, '') AS rationale,
            COALESCE(e.answer, g.answer) AS answer, g.confidence,
            COALESCE(e.version, 0) AS edit_version
        {_FROM} AND {EFFECTIVE_SELECTED} = 1
            AND COALESCE(e.answer, g.answer, '') != ''
    """
    params: tuple[Any, ...] = ()
    if split is not None:
        sql += " AND q.split = ?"
        params = (split,)
    rows = project.rows(sql + " ORDER BY g.query_id, g.id", params)
    for row in rows:
        row["payload"] = json.loads(row["payload"])
    return rows

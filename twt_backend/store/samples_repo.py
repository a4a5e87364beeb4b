"""SQL over the teachers' labelled outputs (generations of purpose 'label') for review and
labelling: filtered pages and counts, ids matching a filter, labelling totals and errors."""

from __future__ import annotations

from typing import Any

from twt_backend.store.project import Project

# The effective decision of an output over selections s: the manual override, else the
# automatic selection (no selection yet: not selected).
EFFECTIVE_SELECTED = (
    "CASE s.override WHEN 'accept' THEN 1 WHEN 'reject' THEN 0 ELSE COALESCE(s.selected, 0) END"
)

_FROM = """FROM generations g JOIN teachers t ON t.id = g.teacher_id
LEFT JOIN selections s ON s.generation_id = g.id"""


def where(
    teacher: str | None = None,
    status: str = "any",
    parse_status: str = "any",
    confidence: tuple[float, float] | None = None,
    search: str = "",
) -> tuple[str, list[Any]]:
    """The WHERE clause (without `WHERE`) of a review filter over generations g / teachers t
    / selections s. status: any | kept | not kept | manual override | not yet selected |
    failed (the others show completed outputs only)."""
    clauses = ["g.purpose = 'label'"]
    params: list[Any] = []
    clauses.append("g.status = 'failed'" if status == "failed" else "g.status = 'ok'")
    if teacher:
        clauses.append("t.name = ?")
        params.append(teacher)
    if status == "kept":
        clauses.append(f"{EFFECTIVE_SELECTED} = 1")
    elif status == "not kept":
        clauses.append(f"{EFFECTIVE_SELECTED} = 0")
    elif status == "manual override":
        clauses.append("s.override IS NOT NULL")
    elif status == "not yet selected":
        clauses.append("s.generation_id IS NULL")
    if parse_status != "any":
        clauses.append("g.parse_status = ?")
        params.append(parse_status)
    if confidence is not None:
        clauses.append("g.confidence BETWEEN ? AND ?")
        params += list(confidence)
    if search.strip():
        like = f"%{search.strip()}%"
        clauses.append(
            "(g.rationale LIKE ? OR g.answer LIKE ? OR g.query_id IN "
            "(SELECT id FROM queries WHERE payload LIKE ?))"
        )
        params += [like, like, like]
    return " AND ".join(clauses), params


def page(
    project: Project, clause: tuple[str, list[Any]], after_id: int, limit: int
) -> list[dict[str, Any]]:
    sql, params = clause
    return project.rows(
        "SELECT g.id, g.query_id, t.name AS teacher, g.confidence, g.parse_status, g.answer,"
        " g.rationale, g.error, s.selected AS auto_selected, s.override, s.reason"
        f" {_FROM} WHERE {sql} AND g.id > ? ORDER BY g.id LIMIT ?",
        (*params, after_id, limit),
    )


def count(project: Project, clause: tuple[str, list[Any]]) -> int:
    sql, params = clause
    return int(project.scalar(f"SELECT COUNT(*) {_FROM} WHERE {sql}", tuple(params)))


def ids(project: Project, clause: tuple[str, list[Any]]) -> list[int]:
    sql, params = clause
    return [int(r["id"]) for r in project.rows(f"SELECT g.id {_FROM} WHERE {sql}", tuple(params))]


def label_count(project: Project) -> int:
    return int(project.scalar("SELECT COUNT(*) FROM generations WHERE purpose = 'label'"))


def label_totals(project: Project) -> dict[str, Any]:
    """Labelling outputs: n, ok, failed, tokens in/out and cost (zeros when none)."""
    row = project.rows(
        "SELECT COUNT(*) AS n, SUM(status='ok') AS ok, SUM(status='failed') AS failed,"
        " COALESCE(SUM(tokens_in), 0) AS tokens_in, COALESCE(SUM(tokens_out), 0) AS tokens_out,"
        " COALESCE(SUM(cost_usd), 0) AS cost FROM generations WHERE purpose='label'"
    )[0]
    return {k: v or 0 for k, v in row.items()}


def label_errors(project: Project, limit: int) -> list[dict[str, Any]]:
    return project.rows(
        "SELECT g.id, t.name AS teacher, g.query_id, g.attempts, g.error, g.updated_at"
        " FROM generations g JOIN teachers t ON t.id = g.teacher_id"
        " WHERE g.status='failed' AND g.purpose='label' ORDER BY g.id DESC LIMIT ?",
        (limit,),
    )


def failed_teachers(project: Project) -> list[str]:
    rows = project.rows(
        "SELECT DISTINCT t.name FROM generations g JOIN teachers t ON t.id = g.teacher_id"
        " WHERE g.status='failed' AND g.purpose='label' ORDER BY t.name"
    )
    return [r["name"] for r in rows]

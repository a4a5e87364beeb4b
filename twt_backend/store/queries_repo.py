"""SQL of the `queries` table for reading: pages, counts per split, one project's totals."""

from __future__ import annotations

from typing import Any

from twt_backend.store.project import Project

_COLUMNS = "id, source_id, split, payload, reference"


def page(
    project: Project, split: str | None = None, after_id: int = 0, limit: int = -1
) -> list[dict[str, Any]]:
    """Queries after `after_id` in id order (limit -1: all), payload as stored (JSON text)."""
    sql, params = f"SELECT {_COLUMNS} FROM queries WHERE id > ?", [after_id]
    if split:
        sql, params = sql + " AND split = ?", [*params, split]
    return project.rows(sql + " ORDER BY id LIMIT ?", (*params, limit))


def get(project: Project, query_id: int) -> dict[str, Any] | None:
    rows = project.rows(f"SELECT {_COLUMNS} FROM queries WHERE id = ?", (query_id,))
    return rows[0] if rows else None


def count(project: Project, split: str | None = None) -> int:
    if split:
        return int(project.scalar("SELECT COUNT(*) FROM queries WHERE split = ?", (split,)))
    return int(project.scalar("SELECT COUNT(*) FROM queries"))


def split_counts(project: Project) -> dict[str, int]:
    rows = project.rows("SELECT split, COUNT(*) AS n FROM queries GROUP BY split ORDER BY split")
    return {row["split"]: int(row["n"]) for row in rows}


def totals(project: Project) -> dict[str, int]:
    """How many teachers and generations a project holds."""
    return {
        "teachers": int(project.scalar("SELECT COUNT(*) FROM teachers")),
        "generations": int(project.scalar("SELECT COUNT(*) FROM generations")),
    }

"""Review controller: filtered, lazily paged generations; decisions, edits, statistics."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twt_backend.selection import curation, stats
from twt_backend.selection.samples import EFFECTIVE_SELECTED, list_samples
from twt_backend.store import Project
from twt_gui.lazy_model import RowSource
from twt_gui.pages.projects_ctl import query_text

STATUSES = ("any", "kept", "not kept", "manual override", "not yet selected", "failed")
PARSE_STATUSES = (
    "any",
    "ok",
    "no_confidence",
    "confidence_out_of_range",
    "no_answer",
    "empty",
    "truncated",
)

_FROM = """FROM generations g JOIN teachers t ON t.id = g.teacher_id
LEFT JOIN selections s ON s.generation_id = g.id"""


@dataclass
class ReviewFilter:
    teacher: str | None = None
    status: str = "any"
    parse_status: str = "any"
    min_confidence: float = 0.0
    max_confidence: float = 1.0
    search: str = ""

    def confidence_filtered(self) -> bool:
        return self.min_confidence > 0.0 or self.max_confidence < 1.0


def filter_sql(f: ReviewFilter) -> tuple[str, list[Any]]:
    """The WHERE clause (without `WHERE`) of a filter, over generations g / teachers t /
    selections s."""
    clauses = ["g.purpose = 'label'"]
    params: list[Any] = []
    clauses.append("g.status = 'failed'" if f.status == "failed" else "g.status = 'ok'")
    if f.teacher:
        clauses.append("t.name = ?")
        params.append(f.teacher)
    if f.status == "kept":
        clauses.append(f"{EFFECTIVE_SELECTED} = 1")
    elif f.status == "not kept":
        clauses.append(f"{EFFECTIVE_SELECTED} = 0")
    elif f.status == "manual override":
        clauses.append("s.override IS NOT NULL")
    elif f.status == "not yet selected":
        clauses.append("s.generation_id IS NULL")
    if f.parse_status != "any":
        clauses.append("g.parse_status = ?")
        params.append(f.parse_status)
    if f.confidence_filtered():
        clauses.append("g.confidence BETWEEN ? AND ?")
        params += [f.min_confidence, f.max_confidence]
    if f.search.strip():
        like = f"%{f.search.strip()}%"
        clauses.append(
            "(g.rationale LIKE ? OR g.answer LIKE ? OR g.query_id IN "
            "(SELECT id FROM queries WHERE payload LIKE ?))"
        )
        params += [like, like, like]
    return " AND ".join(clauses), params


def decision_label(row: dict[str, Any]) -> str:
    if row.get("override"):
        return {"accept": "accepted (manual)", "reject": "rejected (manual)"}[row["override"]]
    if row.get("auto_selected") is None:
        return "—"
    return "kept" if row["auto_selected"] else "rejected"


def review_source(project: Project, f: ReviewFilter) -> RowSource:
    where, params = filter_sql(f)
    sql = (
        "SELECT g.id, g.query_id, t.name AS teacher, g.confidence, g.parse_status, g.answer,"
        " g.rationale, g.error, s.selected AS auto_selected, s.override, s.reason"
        f" {_FROM} WHERE {where} AND g.id > ? ORDER BY g.id LIMIT ?"
    )

    def fetch(after_id: int, limit: int) -> list[dict[str, Any]]:
        rows = project.rows(sql, (*params, after_id, limit))
        for row in rows:
            row["decision"] = decision_label(row)
            if row["rationale"] is None and row["error"]:
                row["rationale"] = row["error"]
        return rows

    return fetch


class ReviewController:
    def __init__(self, project: Project):
        self.project = project

    def teachers(self) -> list[str]:
        return [r["name"] for r in self.project.rows("SELECT name FROM teachers ORDER BY name")]

    def source(self, f: ReviewFilter) -> RowSource:
        return review_source(self.project, f)

    def count(self, f: ReviewFilter) -> int:
        where, params = filter_sql(f)
        return int(self.project.scalar(f"SELECT COUNT(*) {_FROM} WHERE {where}", tuple(params)))

    def total(self) -> int:
        return int(self.project.scalar("SELECT COUNT(*) FROM generations WHERE purpose='label'"))

    # ---- one query ---------------------------------------------------------------------
    def query_detail(self, query_id: int) -> dict[str, Any]:
        query = self.project.rows(
            "SELECT id, source_id, split, payload, reference FROM queries WHERE id=?", (query_id,)
        )
        samples = list_samples(self.project, query_id=query_id)
        for sample in samples:
            sample["decision"] = decision_label(sample)
        return {
            "query": {**query[0], "text": query_text(query[0]["payload"])} if query else {},
            "samples": samples,
            "similarity": stats.similarity_matrix(self.project, query_id),
        }

    # ---- decisions and edits -----------------------------------------------------------
    def override(self, generation_ids: list[int], decision: str | None, note: str | None) -> int:
        with self.project.transaction():
            for generation_id in generation_ids:
                curation.set_override(self.project, generation_id, decision, note)
        return len(generation_ids)

    def history(self, generation_id: int) -> list[dict[str, Any]]:
        return curation.sample_history(self.project, generation_id)

    def edit(self, generation_id: int, rationale: str, answer: str, note: str | None) -> int:
        return curation.edit_sample(self.project, generation_id, rationale, answer, note)

    # ---- statistics --------------------------------------------------------------------
    def histograms(self) -> dict[str, dict[str, Any]]:
        return stats.confidence_histograms(self.project)

    def calibration(self) -> list[dict[str, Any]]:
        return [r for r in stats.calibration(self.project) if r["teacher"] == stats.ALL_TEACHERS]


def bulk_override(
    project_dir: Path, f: ReviewFilter, decision: str | None, note: str | None
) -> int:
    """Accept/reject every generation matching the filter (not only the loaded rows).

    Runs on a worker thread with its own connection, in one transaction.
    """
    project = Project.open(project_dir)
    try:
        where, params = filter_sql(f)
        ids = [r[0] for r in project.conn.execute(f"SELECT g.id {_FROM} WHERE {where}", params)]
        return ReviewController(project).override(ids, decision, note)
    finally:
        project.close()

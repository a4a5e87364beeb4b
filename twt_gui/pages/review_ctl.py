"""Review controller: filtered, lazily paged generations; decisions, edits, statistics.
An adapter over twt_backend.ops.samples (shared with `twt samples`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twt_backend.ops import projects, samples
from twt_backend.ops.projects import Project
from twt_backend.ops.samples import PARSE_STATUSES, STATUSES, ReviewFilter, decision_label
from twt_gui.lazy_model import RowSource
from twt_gui.pages.projects_ctl import query_text

__all__ = [
    "PARSE_STATUSES",
    "STATUSES",
    "ReviewController",
    "ReviewFilter",
    "bulk_override",
    "decision_label",
    "review_source",
]


def review_source(project: Project, f: ReviewFilter) -> RowSource:
    def fetch(after_id: int, limit: int) -> list[dict[str, Any]]:
        return samples.review_page(project, f, after_id, limit)

    return fetch


class ReviewController:
    def __init__(self, project: Project):
        self.project = project

    def teachers(self) -> list[str]:
        from twt_backend.ops.teachers import teacher_names

        return teacher_names(self.project)

    def source(self, f: ReviewFilter) -> RowSource:
        return review_source(self.project, f)

    def count(self, f: ReviewFilter) -> int:
        return samples.review_count(self.project, f)

    def total(self) -> int:
        return samples.label_count(self.project)

    # ---- one query ---------------------------------------------------------------------
    def query_detail(self, query_id: int) -> dict[str, Any]:
        query = projects.query(self.project, query_id)
        return {
            "query": {**query, "text": query_text(query["payload"])} if query else {},
            "samples": samples.query_samples(self.project, query_id),
            "similarity": samples.similarity_matrix(self.project, query_id),
        }

    # ---- decisions and edits -----------------------------------------------------------
    def override(self, generation_ids: list[int], decision: str | None, note: str | None) -> int:
        return samples.override(self.project, generation_ids, decision, note)

    def history(self, generation_id: int) -> list[dict[str, Any]]:
        return samples.history(self.project, generation_id)

    def edit(self, generation_id: int, rationale: str, answer: str, note: str | None) -> int:
        return samples.edit(self.project, generation_id, rationale, answer, note)

    # ---- statistics --------------------------------------------------------------------
    def histograms(self) -> dict[str, dict[str, Any]]:
        return samples.confidence_histograms(self.project)

    def calibration(self) -> list[dict[str, Any]]:
        return [
            r for r in samples.calibration(self.project) if r["teacher"] == samples.ALL_TEACHERS
        ]


def bulk_override(
    project_dir: Path, f: ReviewFilter, decision: str | None, note: str | None
) -> int:
    """Accept/reject every generation matching the filter (not only the loaded rows).

    Runs on a worker thread with its own connection, in one transaction.
    """
    return samples.override_matching(project_dir, f, decision, note)

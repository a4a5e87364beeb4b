"""Sample operations: the teachers' labelled outputs as the app's Review page and
`twt samples` see them; override the selection's decision, edit a sample (the rules and
the audit trail are in selection/curation.py), labelling totals and errors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twt_backend.selection import curation, stats
from twt_backend.selection.samples import list_samples
from twt_backend.store import Project, samples_repo

# the Review page's charts: confidence per teacher, similarity of a query's samples, calibration
ALL_TEACHERS = stats.ALL_TEACHERS
confidence_histograms = stats.confidence_histograms
similarity_matrix = stats.similarity_matrix
calibration = stats.calibration

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

__all__ = ["PARSE_STATUSES", "STATUSES", "ReviewFilter", "list_samples"]


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

    def clause(self) -> tuple[str, list[Any]]:
        bounds = (self.min_confidence, self.max_confidence)
        return samples_repo.where(
            self.teacher,
            self.status,
            self.parse_status,
            bounds if self.confidence_filtered() else None,
            self.search,
        )


def decision_label(row: dict[str, Any]) -> str:
    if row.get("override"):
        return {"accept": "accepted (manual)", "reject": "rejected (manual)"}[row["override"]]
    if row.get("auto_selected") is None:
        return "—"
    return "kept" if row["auto_selected"] else "rejected"


# ---- reading -------------------------------------------------------------------------------
def review_page(
    project: Project, f: ReviewFilter, after_id: int, limit: int
) -> list[dict[str, Any]]:
    """Outputs matching a filter, in id order, with their `decision` in words (a failed
    request shows its error where the rationale would be)."""
    rows = samples_repo.page(project, f.clause(), after_id, limit)
    for row in rows:
        row["decision"] = decision_label(row)
        if row["rationale"] is None and row["error"]:
            row["rationale"] = row["error"]
    return rows


def review_count(project: Project, f: ReviewFilter) -> int:
    return samples_repo.count(project, f.clause())


def label_count(project: Project) -> int:
    return samples_repo.label_count(project)


def query_samples(project: Project, query_id: int) -> list[dict[str, Any]]:
    """Every output for one query, with its decision in words."""
    samples = list_samples(project, query_id=query_id)
    for sample in samples:
        sample["decision"] = decision_label(sample)
    return samples


def history(project: Project, generation_id: int) -> list[dict[str, Any]]:
    return curation.sample_history(project, generation_id)


def label_totals(project: Project) -> dict[str, Any]:
    return samples_repo.label_totals(project)


def label_errors(project: Project, limit: int = 500) -> list[dict[str, Any]]:
    return samples_repo.label_errors(project, limit)


def failed_teachers(project: Project) -> list[str]:
    return samples_repo.failed_teachers(project)


# ---- changing --------------------------------------------------------------------------------
def override(
    project: Project, generation_ids: list[int], decision: str | None, note: str | None = None
) -> int:
    """Accept/reject (None: back to automatic) these outputs, all or none."""
    with project.transaction():
        for generation_id in generation_ids:
            curation.set_override(project, generation_id, decision, note)
    return len(generation_ids)


def override_matching(
    project_dir: str | Path, f: ReviewFilter, decision: str | None, note: str | None = None
) -> int:
    """Override every output matching the filter (not only the rows on screen), in one
    transaction on a connection of its own (safe on a worker thread)."""
    with Project.open(project_dir) as project:
        return override(project, samples_repo.ids(project, f.clause()), decision, note)


def edit(
    project: Project,
    generation_id: int,
    rationale: str | None = None,
    answer: str | None = None,
    note: str | None = None,
) -> int:
    """A new version of a sample's rationale and/or answer; returns the version."""
    return curation.edit_sample(project, generation_id, rationale, answer, note)
